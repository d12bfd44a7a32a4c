DROP INDEX account_sessions_account;
DROP TABLE account_sessions;
DROP TABLE accounts;

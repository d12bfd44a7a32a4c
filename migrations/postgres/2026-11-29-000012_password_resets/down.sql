DROP INDEX password_resets_account;
DROP TABLE password_resets;

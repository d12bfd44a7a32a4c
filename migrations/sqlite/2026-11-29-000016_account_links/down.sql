DELETE FROM account_links WHERE purpose <> 'password_reset';
ALTER TABLE account_links DROP COLUMN purpose;
ALTER TABLE account_links RENAME TO password_resets;

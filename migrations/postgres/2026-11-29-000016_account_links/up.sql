-- Password resets become one kind of account link: a single-use, 15-minute link mailed to the account's
-- address. The other kind claims the guest orders placed with that address (proving the address is the
-- account holder's: registration does not).
ALTER TABLE password_resets RENAME TO account_links;
ALTER TABLE account_links ADD COLUMN purpose TEXT NOT NULL DEFAULT 'password_reset';

DROP INDEX partner_keys_partner;
DROP TABLE partner_keys;
DROP TABLE partners;

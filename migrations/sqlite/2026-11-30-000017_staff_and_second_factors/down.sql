DROP TABLE recovery_codes;
DROP TABLE second_factors;
DROP TABLE staff_setup_links;
DROP TABLE staff_sessions;
DROP TABLE staff_members;

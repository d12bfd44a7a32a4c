-- PostgreSQL moves its column CHECK constraints into domains in this migration (it re-plans a table's
-- CHECK constraints on every statement that writes it). SQLite compiles CHECK constraints into each
-- prepared statement once, and has no domains: its rules stay as they are.
SELECT 1;

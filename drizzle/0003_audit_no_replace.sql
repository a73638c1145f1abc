-- `INSERT OR REPLACE` (and `REPLACE INTO`) with an existing id would delete
-- the old entry and write a new one without firing the delete trigger of 0001
-- (SQLite fires delete triggers on REPLACE only with recursive_triggers on,
-- and D1 leaves it off). An insert may only ever add an entry.
CREATE TRIGGER `audit_logs_no_replace` BEFORE INSERT ON `audit_logs`
WHEN EXISTS (SELECT 1 FROM `audit_logs` WHERE `id` = NEW.`id`)
BEGIN
	SELECT RAISE(ABORT, 'audit_logs is append-only');
END;

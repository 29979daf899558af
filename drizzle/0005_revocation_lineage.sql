ALTER TABLE `issued_credentials` ADD `parent_jti` text;--> statement-breakpoint
-- Credentials refreshed before this migration name their parent in issued_by (`refresh:<jti>`).
UPDATE `issued_credentials` SET `parent_jti` = substr(`issued_by`, 9) WHERE `issued_by` LIKE 'refresh:%';--> statement-breakpoint
CREATE INDEX `issued_credentials_parent` ON `issued_credentials` (`broker_id`,`parent_jti`) WHERE "issued_credentials"."parent_jti" IS NOT NULL;--> statement-breakpoint
ALTER TABLE `revocations` ADD `descendant_of` text;--> statement-breakpoint
CREATE INDEX `revocations_descendant_of` ON `revocations` (`broker_id`,`descendant_of`) WHERE "revocations"."descendant_of" IS NOT NULL;--> statement-breakpoint
-- What a revocation by name now does, for revocations made before this migration: the credentials refreshed
-- from a credential revoked by an admin key are revoked too (those revoked by a refresh's revoke_old are not
-- reached through: the refresh replaced them). Each gets a feed event, so verifiers drop them.
INSERT INTO `revocation_events` (`broker_id`, `jti`, `revoked`, `expires_at`, `at`)
WITH RECURSIVE `lineage` (`broker_id`, `jti`, `origin`, `revoked_by`) AS (
  SELECT c.`broker_id`, c.`jti`, r.`jti`, r.`revoked_by` FROM `revocations` r
  JOIN `issued_credentials` c ON c.`broker_id` = r.`broker_id` AND c.`parent_jti` = r.`jti`
  WHERE r.`revoked_by` NOT LIKE 'refresh:%'
  UNION
  SELECT c.`broker_id`, c.`jti`, l.`origin`, l.`revoked_by` FROM `lineage` l
  CROSS JOIN `issued_credentials` c ON c.`broker_id` = l.`broker_id` AND c.`parent_jti` = l.`jti`
  WHERE NOT EXISTS (SELECT 1 FROM `revocations` n WHERE n.`broker_id` = l.`broker_id` AND n.`jti` = l.`jti` AND n.`revoked_by` NOT LIKE 'refresh:%')
)
SELECT l.`broker_id`, l.`jti`, 1, c.`expires_at`, CAST(strftime('%s', 'now') AS INTEGER) * 1000
FROM `lineage` l JOIN `issued_credentials` c ON c.`broker_id` = l.`broker_id` AND c.`jti` = l.`jti`
WHERE NOT EXISTS (SELECT 1 FROM `revocations` r WHERE r.`broker_id` = l.`broker_id` AND r.`jti` = l.`jti`)
GROUP BY l.`broker_id`, l.`jti`;--> statement-breakpoint
INSERT INTO `revocations` (`broker_id`, `jti`, `revoked_at`, `expires_at`, `revoked_by`, `descendant_of`)
WITH RECURSIVE `lineage` (`broker_id`, `jti`, `origin`, `revoked_by`) AS (
  SELECT c.`broker_id`, c.`jti`, r.`jti`, r.`revoked_by` FROM `revocations` r
  JOIN `issued_credentials` c ON c.`broker_id` = r.`broker_id` AND c.`parent_jti` = r.`jti`
  WHERE r.`revoked_by` NOT LIKE 'refresh:%'
  UNION
  SELECT c.`broker_id`, c.`jti`, l.`origin`, l.`revoked_by` FROM `lineage` l
  CROSS JOIN `issued_credentials` c ON c.`broker_id` = l.`broker_id` AND c.`parent_jti` = l.`jti`
  WHERE NOT EXISTS (SELECT 1 FROM `revocations` n WHERE n.`broker_id` = l.`broker_id` AND n.`jti` = l.`jti` AND n.`revoked_by` NOT LIKE 'refresh:%')
)
SELECT l.`broker_id`, l.`jti`, CAST(strftime('%s', 'now') AS INTEGER) * 1000, c.`expires_at`, l.`revoked_by`, l.`origin`
FROM `lineage` l JOIN `issued_credentials` c ON c.`broker_id` = l.`broker_id` AND c.`jti` = l.`jti`
WHERE NOT EXISTS (SELECT 1 FROM `revocations` r WHERE r.`broker_id` = l.`broker_id` AND r.`jti` = l.`jti`)
GROUP BY l.`broker_id`, l.`jti`;

ALTER TABLE `issued_credentials` ADD `parent_jti` text;--> statement-breakpoint
-- Credentials refreshed before this migration name their parent in issued_by (`refresh:<jti>`).
UPDATE `issued_credentials` SET `parent_jti` = substr(`issued_by`, 9) WHERE `issued_by` LIKE 'refresh:%';--> statement-breakpoint
CREATE INDEX `issued_credentials_parent` ON `issued_credentials` (`broker_id`,`parent_jti`) WHERE "issued_credentials"."parent_jti" IS NOT NULL;--> statement-breakpoint
ALTER TABLE `revocations` ADD `descendant_of` text;--> statement-breakpoint
CREATE INDEX `revocations_descendant_of` ON `revocations` (`broker_id`,`descendant_of`) WHERE "revocations"."descendant_of" IS NOT NULL;
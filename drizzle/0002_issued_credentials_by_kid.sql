DROP INDEX `issued_credentials_client`;--> statement-breakpoint
CREATE INDEX `issued_credentials_kid` ON `issued_credentials` (`broker_id`,`kid`,`expires_at`);
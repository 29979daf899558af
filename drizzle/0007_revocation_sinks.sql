CREATE TABLE `revocation_sinks` (
	`id` text PRIMARY KEY NOT NULL,
	`broker_id` text NOT NULL,
	`name` text NOT NULL,
	`kind` text NOT NULL,
	`settings` text NOT NULL,
	`cursor` integer NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_at` integer,
	`failing_since` integer,
	`last_error` text,
	`last_delivered_at` integer,
	`created_at` integer NOT NULL,
	`modified_at` integer NOT NULL,
	FOREIGN KEY (`broker_id`) REFERENCES `brokers`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `revocation_sinks_broker_name` ON `revocation_sinks` (`broker_id`,`name`);--> statement-breakpoint
CREATE INDEX `audit_events_broker_seq` ON `audit_events` (`broker_id`,`seq`);
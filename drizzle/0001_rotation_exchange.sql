CREATE TABLE `identity_sources` (
	`id` text PRIMARY KEY NOT NULL,
	`broker_id` text NOT NULL,
	`name` text NOT NULL,
	`kind` text NOT NULL,
	`settings` text NOT NULL,
	`acl_template` text NOT NULL,
	`created_at` integer NOT NULL,
	`modified_at` integer NOT NULL,
	FOREIGN KEY (`broker_id`) REFERENCES `brokers`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `identity_sources_broker_name` ON `identity_sources` (`broker_id`,`name`);--> statement-breakpoint
ALTER TABLE `brokers` ADD `key_rotation_period` integer;--> statement-breakpoint
ALTER TABLE `brokers` ADD `max_lifetime` integer;--> statement-breakpoint
ALTER TABLE `signing_keys` ADD `remove_after` integer;
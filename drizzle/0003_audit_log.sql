CREATE TABLE `audit_events` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`at` integer NOT NULL,
	`action` text NOT NULL,
	`actor` text NOT NULL,
	`namespace_id` text,
	`namespace` text,
	`broker_id` text,
	`broker` text,
	`details` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `audit_events_namespace_seq` ON `audit_events` (`namespace_id`,`seq`);--> statement-breakpoint
CREATE INDEX `audit_events_at` ON `audit_events` (`at`);
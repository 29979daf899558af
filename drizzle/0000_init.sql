CREATE TABLE `admin_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`secret_hash` text NOT NULL,
	`hint` text NOT NULL,
	`namespace_id` text,
	`permission` text NOT NULL,
	`created_at` integer NOT NULL,
	`created_by` text,
	FOREIGN KEY (`namespace_id`) REFERENCES `namespaces`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `admin_keys_secret_hash_unique` ON `admin_keys` (`secret_hash`);--> statement-breakpoint
CREATE TABLE `brokers` (
	`id` text PRIMARY KEY NOT NULL,
	`namespace_id` text NOT NULL,
	`name` text NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`auth_type` text NOT NULL,
	`expiration` integer,
	`algorithm` text NOT NULL,
	`default_topic_acl` text NOT NULL,
	`issuer` text NOT NULL,
	`audience` text NOT NULL,
	`created_at` integer NOT NULL,
	`modified_at` integer NOT NULL,
	FOREIGN KEY (`namespace_id`) REFERENCES `namespaces`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `brokers_namespace_name` ON `brokers` (`namespace_id`,`name`);--> statement-breakpoint
CREATE TABLE `issued_credentials` (
	`broker_id` text NOT NULL,
	`jti` text NOT NULL,
	`client_id` text NOT NULL,
	`kid` text NOT NULL,
	`issued_at` integer NOT NULL,
	`expires_at` integer,
	`issued_by` text NOT NULL,
	PRIMARY KEY(`broker_id`, `jti`),
	FOREIGN KEY (`broker_id`) REFERENCES `brokers`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `issued_credentials_client` ON `issued_credentials` (`broker_id`,`client_id`);--> statement-breakpoint
CREATE TABLE `namespaces` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`created_at` integer NOT NULL,
	`modified_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `namespaces_name_unique` ON `namespaces` (`name`);--> statement-breakpoint
CREATE TABLE `revocation_events` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`broker_id` text NOT NULL,
	`jti` text NOT NULL,
	`revoked` integer NOT NULL,
	`expires_at` integer,
	`at` integer NOT NULL,
	FOREIGN KEY (`broker_id`) REFERENCES `brokers`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `revocation_events_broker_seq` ON `revocation_events` (`broker_id`,`seq`);--> statement-breakpoint
CREATE TABLE `revocations` (
	`broker_id` text NOT NULL,
	`jti` text NOT NULL,
	`revoked_at` integer NOT NULL,
	`expires_at` integer,
	`revoked_by` text NOT NULL,
	PRIMARY KEY(`broker_id`, `jti`),
	FOREIGN KEY (`broker_id`) REFERENCES `brokers`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `signing_keys` (
	`broker_id` text NOT NULL,
	`kid` text NOT NULL,
	`algorithm` text NOT NULL,
	`public_jwk` text NOT NULL,
	`sealed_private_jwk` text NOT NULL,
	`created_at` integer NOT NULL,
	`retired_at` integer,
	PRIMARY KEY(`broker_id`, `kid`),
	FOREIGN KEY (`broker_id`) REFERENCES `brokers`(`id`) ON UPDATE no action ON DELETE cascade
);

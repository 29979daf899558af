ALTER TABLE `brokers` ADD `claim_profile` text DEFAULT 'standard' NOT NULL;--> statement-breakpoint
ALTER TABLE `signing_keys` ADD `activated_at` integer;--> statement-breakpoint
ALTER TABLE `signing_keys` ADD `revoked_at` integer;--> statement-breakpoint
-- Keys written before key states: each signed from its creation (the current one and the retired ones).
UPDATE `signing_keys` SET `activated_at` = `created_at`;

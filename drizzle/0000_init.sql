CREATE TABLE `admin_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`key_hash` text NOT NULL,
	`apps` text,
	`read_only` integer DEFAULT false NOT NULL,
	`status` text DEFAULT 'active' NOT NULL,
	`created_at` integer NOT NULL,
	`revoked_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `admin_keys_key_hash_uq` ON `admin_keys` (`key_hash`);--> statement-breakpoint
CREATE INDEX `admin_keys_created_idx` ON `admin_keys` (`created_at`,`id`);--> statement-breakpoint
CREATE TABLE `apps` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`display_name` text,
	`status` text DEFAULT 'active' NOT NULL,
	`metadata` text DEFAULT '{}' NOT NULL,
	`authz_version` integer DEFAULT 0 NOT NULL,
	`tokens_invalid_before` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`archived_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `apps_name_uq` ON `apps` (`name`);--> statement-breakpoint
CREATE INDEX `apps_status_created_idx` ON `apps` (`status`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `apps_created_idx` ON `apps` (`created_at`,`id`);--> statement-breakpoint
CREATE TABLE `audit_logs` (
	`id` text PRIMARY KEY NOT NULL,
	`app_id` text,
	`actor_id` text,
	`action` text NOT NULL,
	`target_type` text NOT NULL,
	`target_id` text,
	`metadata` text DEFAULT '{}' NOT NULL,
	`ip_address` text,
	`user_agent` text,
	`request_id` text,
	`timestamp` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `audit_app_ts_idx` ON `audit_logs` (`app_id`,`timestamp`,`id`);--> statement-breakpoint
CREATE INDEX `audit_app_action_ts_idx` ON `audit_logs` (`app_id`,`action`,`timestamp`,`id`);--> statement-breakpoint
CREATE INDEX `audit_app_actor_ts_idx` ON `audit_logs` (`app_id`,`actor_id`,`timestamp`,`id`);--> statement-breakpoint
CREATE INDEX `audit_app_target_type_ts_idx` ON `audit_logs` (`app_id`,`target_type`,`timestamp`,`id`);--> statement-breakpoint
CREATE INDEX `audit_app_target_id_ts_idx` ON `audit_logs` (`app_id`,`target_id`,`timestamp`,`id`);--> statement-breakpoint
CREATE TABLE `batch_guards` (
	`failed` integer NOT NULL,
	CONSTRAINT "batch_guard" CHECK("batch_guards"."failed" = 0)
);
--> statement-breakpoint
CREATE TABLE `credentials` (
	`id` text PRIMARY KEY NOT NULL,
	`app_id` text NOT NULL,
	`name` text NOT NULL,
	`client_id` text NOT NULL,
	`secret_hash` text NOT NULL,
	`secret_last4` text NOT NULL,
	`previous_secret_hash` text,
	`previous_secret_expires_at` integer,
	`permissions` text DEFAULT '[]' NOT NULL,
	`status` text DEFAULT 'active' NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`rotated_at` integer,
	`revoked_at` integer,
	FOREIGN KEY (`app_id`) REFERENCES `apps`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `credentials_client_id_uq` ON `credentials` (`client_id`);--> statement-breakpoint
CREATE INDEX `credentials_app_created_idx` ON `credentials` (`app_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `credentials_app_revoked_idx` ON `credentials` (`app_id`,`revoked_at`);--> statement-breakpoint
CREATE TABLE `invites` (
	`id` text PRIMARY KEY NOT NULL,
	`app_id` text NOT NULL,
	`email` text,
	`role_id` text NOT NULL,
	`token_hash` text NOT NULL,
	`expires_at` integer NOT NULL,
	`max_uses` integer NOT NULL,
	`uses` integer DEFAULT 0 NOT NULL,
	`status` text DEFAULT 'active' NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`revoked_at` integer,
	FOREIGN KEY (`app_id`) REFERENCES `apps`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `invites_token_hash_uq` ON `invites` (`token_hash`);--> statement-breakpoint
CREATE INDEX `invites_app_pending_idx` ON `invites` (`app_id`,`status`,`expires_at`);--> statement-breakpoint
CREATE INDEX `invites_app_created_idx` ON `invites` (`app_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `invites_app_role_idx` ON `invites` (`app_id`,`role_id`,`status`);--> statement-breakpoint
CREATE TABLE `roles` (
	`id` text PRIMARY KEY NOT NULL,
	`app_id` text NOT NULL,
	`name` text NOT NULL,
	`display_name` text,
	`permissions` text DEFAULT '[]' NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`app_id`) REFERENCES `apps`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `roles_app_name_uq` ON `roles` (`app_id`,`name`);--> statement-breakpoint
CREATE UNIQUE INDEX `roles_app_id_uq` ON `roles` (`app_id`,`id`);--> statement-breakpoint
CREATE INDEX `roles_app_created_idx` ON `roles` (`app_id`,`created_at`,`id`);--> statement-breakpoint
CREATE TABLE `signing_keys` (
	`kid` text PRIMARY KEY NOT NULL,
	`status` text NOT NULL,
	`public_jwk` text NOT NULL,
	`private_jwk_sealed` text NOT NULL,
	`created_at` integer NOT NULL,
	`activated_at` integer,
	`retired_at` integer,
	`expires_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `signing_keys_live_status_uq` ON `signing_keys` (`status`) WHERE status IN ('next', 'active');--> statement-breakpoint
CREATE TABLE `user_roles` (
	`app_id` text NOT NULL,
	`user_id` text NOT NULL,
	`role_id` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`user_id`, `role_id`),
	FOREIGN KEY (`app_id`,`user_id`) REFERENCES `users`(`app_id`,`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`app_id`,`role_id`) REFERENCES `roles`(`app_id`,`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `user_roles_app_role_idx` ON `user_roles` (`app_id`,`role_id`,`user_id`);--> statement-breakpoint
CREATE TABLE `users` (
	`id` text PRIMARY KEY NOT NULL,
	`app_id` text NOT NULL,
	`email` text NOT NULL,
	`display_name` text,
	`password_hash` text,
	`status` text DEFAULT 'active' NOT NULL,
	`metadata` text DEFAULT '{}' NOT NULL,
	`tokens_invalid_before` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`deactivated_at` integer,
	FOREIGN KEY (`app_id`) REFERENCES `apps`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `users_app_email_uq` ON `users` (`app_id`,`email`);--> statement-breakpoint
CREATE UNIQUE INDEX `users_app_id_uq` ON `users` (`app_id`,`id`);--> statement-breakpoint
CREATE INDEX `users_app_created_idx` ON `users` (`app_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `users_app_status_created_idx` ON `users` (`app_id`,`status`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `users_app_invalid_before_idx` ON `users` (`app_id`,`tokens_invalid_before`);
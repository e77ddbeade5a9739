import { Migration } from '@mikro-orm/migrations';

/** Shops run from the admin API: activation, languages, menu extras, sealed credentials; issued tokens; the audit log. */
export class Migration20261203130000 extends Migration {

  override name = 'Migration20261203130000';

  override up(): void | Promise<void> {
    this.addSql(`alter table "shop" add column "active" boolean not null default true, add column "languages" jsonb not null default '["en"]', add column "menu_extras" jsonb not null default '[]', add column "business_account_id" varchar(255) null, add column "shopify" jsonb null, add column "credentials" text null, add column "updated_at" timestamptz null;`);
    // Order numbers are `<prefix>-<n>` and their workflows `order:<number>`: two shops must never share a prefix.
    this.addSql(`alter table "shop" add constraint "shop_order_prefix_unique" unique ("order_prefix");`);
    this.addSql(`create table "shop_token" ("id" uuid not null, "shop_id" varchar(255) not null, "name" varchar(255) null, "prefix" varchar(255) not null, "token_hash" varchar(255) not null, "created_at" timestamptz not null, "revoked_at" timestamptz null, primary key ("id"));`);
    this.addSql(`alter table "shop_token" add constraint "shop_token_token_hash_unique" unique ("token_hash");`);
    this.addSql(`alter table "shop_token" add constraint "shop_token_shop_id_foreign" foreign key ("shop_id") references "shop" ("id");`);
    this.addSql(`create index "shop_token_shop_id_index" on "shop_token" ("shop_id");`);
    this.addSql(`create table "audit_entry" ("id" uuid not null, "at" timestamptz not null, "actor" varchar(255) not null, "shop_id" varchar(255) null, "method" varchar(255) not null, "route" varchar(255) not null, "entity" varchar(255) not null, "entity_id" varchar(255) null, "action" varchar(255) not null, "diff" jsonb not null default '{}', "request_id" varchar(255) null, primary key ("id"));`);
    this.addSql(`create index "audit_entry_shop_id_at_index" on "audit_entry" ("shop_id", "at");`);
    this.addSql(`create index "audit_entry_at_index" on "audit_entry" ("at");`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "audit_entry";`);
    this.addSql(`drop table if exists "shop_token";`);
    this.addSql(`alter table "shop" drop constraint if exists "shop_order_prefix_unique";`);
    this.addSql(`alter table "shop" drop column "active", drop column "languages", drop column "menu_extras", drop column "business_account_id", drop column "shopify", drop column "credentials", drop column "updated_at";`);
  }

}

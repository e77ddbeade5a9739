import { Migration } from '@mikro-orm/migrations';

/**
 * Meta catalog sync (issue 10): each product's state in the shop's Meta catalog, the shop's last sync run, and the
 * product set Meta keeps for each category.
 */
export class Migration20261203200000 extends Migration {

  override name = 'Migration20261203200000';

  override up(): void | Promise<void> {
    this.addSql(`create table "catalog_item_sync" ("shop_id" varchar(255) not null, "retailer_id" varchar(255) not null, "product_id" varchar(255) null, "status" varchar(255) not null, "method" varchar(255) null, "error" text null, "sent_hash" varchar(255) null, "synced_hash" varchar(255) null, "handle" varchar(255) null, "attempted_at" timestamptz null, "synced_at" timestamptz null, "updated_at" timestamptz not null, primary key ("shop_id", "retailer_id"));`);
    this.addSql(`create index "catalog_item_sync_shop_id_handle_index" on "catalog_item_sync" ("shop_id", "handle");`);
    this.addSql(`alter table "catalog_item_sync" add constraint "catalog_item_sync_shop_id_foreign" foreign key ("shop_id") references "shop" ("id") on delete cascade;`);

    this.addSql(`create table "catalog_sync_run" ("shop_id" varchar(255) not null, "status" varchar(255) not null default 'never', "source" varchar(255) null, "requested_at" timestamptz null, "started_at" timestamptz null, "finished_at" timestamptz null, "error" text null, "runs" int not null default 0, primary key ("shop_id"));`);
    this.addSql(`alter table "catalog_sync_run" add constraint "catalog_sync_run_shop_id_foreign" foreign key ("shop_id") references "shop" ("id") on delete cascade;`);

    this.addSql(`create table "catalog_product_set" ("shop_id" varchar(255) not null, "category_id" varchar(255) not null, "set_id" varchar(255) not null, "name" varchar(255) not null, "filter_hash" varchar(255) not null, "updated_at" timestamptz not null, primary key ("shop_id", "category_id"));`);
    this.addSql(`alter table "catalog_product_set" add constraint "catalog_product_set_shop_id_foreign" foreign key ("shop_id") references "shop" ("id") on delete cascade;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "catalog_product_set" cascade;`);
    this.addSql(`drop table if exists "catalog_sync_run" cascade;`);
    this.addSql(`drop table if exists "catalog_item_sync" cascade;`);
  }

}

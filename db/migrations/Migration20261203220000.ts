import { Migration } from '@mikro-orm/migrations';

/**
 * `shopify_order`: one row per duka order pushed to its shop's Shopify store (activities/shopify.ts). `creating` means
 * an orderCreate went out whose answer never came: the next attempt searches (twice, the index lags) before it creates.
 */
export class Migration20261203220000 extends Migration {

  override name = 'Migration20261203220000';

  override up(): void | Promise<void> {
    this.addSql(`create table "shopify_order" ("order_number" varchar(255) not null, "shop_id" varchar(255) not null, "state" varchar(20) not null, "shopify_order_id" varchar(255) null, "shopify_order_name" varchar(255) null, "requests" integer not null default 0, "create_sent_at" timestamptz null, "last_error" text null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), primary key ("order_number"));`);
    this.addSql(`alter table "shopify_order" add constraint "shopify_order_shop_id_foreign" foreign key ("shop_id") references "shop" ("id");`);
    this.addSql(`alter table "shopify_order" add constraint "shopify_order_state_check" check ("state" in ('pending', 'creating', 'created', 'rejected'));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "shopify_order";`);
  }

}

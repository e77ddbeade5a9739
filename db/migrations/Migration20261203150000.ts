import { Migration } from '@mikro-orm/migrations';

/** Promotions (seed 001), the discounts they gave an order, and a booking's customer name (seed 003). */
export class Migration20261203150000 extends Migration {

  override name = 'Migration20261203150000';

  override up(): void | Promise<void> {
    this.addSql(`create table "promotion" ("id" uuid not null, "shop_id" varchar(255) not null, "title" varchar(255) not null, "description" text null, "percent_off" int null, "amount_off" int null, "product_ids" jsonb not null default '[]', "category_ids" jsonb not null default '[]', "starts_at" timestamptz null, "ends_at" timestamptz null, "active" boolean not null default true, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`create index "promotion_shop_id_active_index" on "promotion" ("shop_id", "active");`);
    this.addSql(`alter table "promotion" add constraint "promotion_shop_id_foreign" foreign key ("shop_id") references "shop" ("id") on delete cascade;`);
    // Exactly one kind of discount, within bounds, and an end after the start: the API checks these too.
    this.addSql(`alter table "promotion" add constraint "promotion_one_discount_check" check (("percent_off" is null) <> ("amount_off" is null) and ("percent_off" is null or "percent_off" between 1 and 100) and ("amount_off" is null or "amount_off" > 0) and ("starts_at" is null or "ends_at" is null or "ends_at" > "starts_at"));`);

    this.addSql(`alter table "orders" add column "discount" int not null default 0, add column "discounts" jsonb not null default '[]';`);
    this.addSql(`alter table "booking" add column "customer_name" varchar(255) null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "booking" drop column "customer_name";`);
    this.addSql(`alter table "orders" drop column "discount", drop column "discounts";`);
    this.addSql(`drop table if exists "promotion" cascade;`);
  }

}

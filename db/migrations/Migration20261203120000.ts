import { Migration } from '@mikro-orm/migrations';

/** The order's ledger (paid, refunded) and why an operator must act, as the workflow holds them; order number claims. */
export class Migration20261203120000 extends Migration {

  override name = 'Migration20261203120000';

  override up(): void | Promise<void> {
    this.addSql(`alter table "orders" add column "paid_amount" int not null default 0, add column "refunded_amount" int not null default 0, add column "attention" varchar(255) null;`);
    this.addSql(`create index "orders_attention_index" on "orders" ("attention") where "attention" is not null;`);
    // One row per cart line: a second writer of the same order can never leave a line twice.
    this.addSql(`delete from "order_item" a using "order_item" b where a."order_id" = b."order_id" and a."line_id" = b."line_id" and a."id" > b."id";`);
    this.addSql(`alter table "order_item" add constraint "order_item_order_id_line_id_unique" unique ("order_id", "line_id");`);
    // An order number is claimed under the key of what asked for it (an activity, an Idempotency-Key): asking again
    // with the same key gets the same number, so a retry never starts a second order.
    this.addSql(`create table "order_number_claim" ("claim_key" varchar(128) not null, "shop_id" varchar(255) not null, "order_number" varchar(255) not null, "created_at" timestamptz not null default now(), primary key ("claim_key"));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "order_number_claim";`);
    this.addSql(`alter table "order_item" drop constraint if exists "order_item_order_id_line_id_unique";`);
    this.addSql(`alter table "orders" drop column "paid_amount", drop column "refunded_amount", drop column "attention";`);
  }

}

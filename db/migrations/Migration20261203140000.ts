import { Migration } from '@mikro-orm/migrations';

/**
 * The catalog as a shop runs it: categories can be hidden (`active`), and stock never oversells. `stock` is what is on
 * the shelf, `stock_reserved` what placed orders hold until they are paid (taken from both) or cancelled, expired or
 * unpaid (given back); a customer can buy `stock - stock_reserved`. One row per order line says where its units stand,
 * so a retried reservation, commit or release changes the product once.
 */
export class Migration20261203140000 extends Migration {

  override name = 'Migration20261203140000';

  override up(): void | Promise<void> {
    this.addSql(`alter table "category" add column "active" boolean not null default true;`);
    this.addSql(`alter table "product" add column "stock_reserved" int not null default 0;`);
    this.addSql(`alter table "product" add constraint "product_stock_reserved_check" check ("stock_reserved" >= 0);`);
    this.addSql(`create table "stock_reservation" ("order_number" varchar(255) not null, "line_id" varchar(255) not null, "shop_id" varchar(255) not null, "product_id" varchar(255) not null, "quantity" int not null, "state" varchar(255) not null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), primary key ("order_number", "line_id"));`);
    this.addSql(`create index "stock_reservation_product_id_state_index" on "stock_reservation" ("product_id", "state");`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "stock_reservation";`);
    this.addSql(`alter table "product" drop constraint if exists "product_stock_reserved_check";`);
    this.addSql(`alter table "product" drop column "stock_reserved";`);
    this.addSql(`alter table "category" drop column "active";`);
  }

}

import { Migration } from '@mikro-orm/migrations';

export class Migration20261121234528 extends Migration {

  override name = 'Migration20261121234528';

  override up(): void | Promise<void> {
    this.addSql(`create table "shop" ("id" varchar(255) not null, "name" varchar(255) not null, "phone_number_id" varchar(255) not null, "display_phone" varchar(255) not null, "currency" varchar(3) not null, "country" varchar(2) not null, "timezone" varchar(255) not null, "default_language" varchar(255) not null default 'en', "order_prefix" varchar(255) not null, "next_order_number" int not null default 1001, "payment_methods" jsonb not null, "provider_settings" jsonb not null default '{}', "tax_rate_basis_points" int not null default 0, "tax_inclusive" boolean not null default false, "delivery_fee" int not null default 0, "delivery_available" boolean not null default true, "pickup_available" boolean not null default true, "catalog_id" varchar(255) null, "api_token_hash" varchar(255) null, "preparation_minutes" int not null default 30, "created_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "shop" add constraint "shop_phone_number_id_unique" unique ("phone_number_id");`);

    this.addSql(`create table "message" ("id" uuid not null, "wa_message_id" varchar(255) not null, "direction" varchar(255) not null, "shop_id" varchar(255) not null, "customer_ref" varchar(255) not null, "type" varchar(255) not null, "status" varchar(255) not null, "error_code" int null, "handed_off_at" timestamptz null, "status_at" timestamptz null, "created_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "message" add constraint "message_wa_message_id_unique" unique ("wa_message_id");`);
    this.addSql(`create index "message_customer_ref_created_at_index" on "message" ("customer_ref", "created_at");`);

    this.addSql(`create table "customer" ("id" uuid not null, "shop_id" varchar(255) not null, "wa_id" varchar(255) not null, "ref" varchar(255) not null, "name" varchar(255) null, "language" varchar(255) null, "last_message_at" timestamptz null, "created_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "customer" add constraint "customer_shop_id_wa_id_unique" unique ("shop_id", "wa_id");`);
    this.addSql(`alter table "customer" add constraint "customer_shop_id_ref_unique" unique ("shop_id", "ref");`);

    this.addSql(`create table "orders" ("id" uuid not null, "number" varchar(255) not null, "shop_id" varchar(255) not null, "customer_id" uuid null, "status" varchar(255) not null, "payment_status" varchar(255) not null default 'NONE', "payment_method" varchar(255) null, "fulfilment" varchar(255) null, "address" jsonb null, "note" text null, "subtotal" int not null default 0, "tax" int not null default 0, "delivery_fee" int not null default 0, "total" int not null default 0, "currency" varchar(3) not null, "workflow_id" varchar(255) not null, "source" varchar(255) not null default 'whatsapp', "created_at" timestamptz not null, "updated_at" timestamptz not null, "placed_at" timestamptz null, "paid_at" timestamptz null, "completed_at" timestamptz null, primary key ("id"));`);
    this.addSql(`alter table "orders" add constraint "orders_number_unique" unique ("number");`);
    this.addSql(`create index "orders_shop_id_status_index" on "orders" ("shop_id", "status");`);
    this.addSql(`create index "orders_created_at_index" on "orders" ("created_at");`);

    this.addSql(`create table "order_item" ("id" uuid not null, "order_id" uuid not null, "line_id" varchar(255) not null, "product_id" varchar(255) null, "retailer_id" varchar(255) not null, "name" varchar(255) not null, "quantity" int not null, "unit_price" int not null, "options" jsonb not null default '[]', "line_total" int not null, "position" int not null default 0, primary key ("id"));`);

    this.addSql(`create table "order_event" ("id" uuid not null, "order_id" uuid not null, "key" varchar(255) not null, "type" varchar(255) not null, "detail" jsonb not null default '{}', "at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "order_event" add constraint "order_event_key_unique" unique ("key");`);

    this.addSql(`create table "category" ("id" varchar(255) not null, "shop_id" varchar(255) not null, "name" varchar(255) not null, "description" varchar(255) null, "position" int not null default 0, primary key ("id"));`);

    this.addSql(`create table "product" ("id" varchar(255) not null, "shop_id" varchar(255) not null, "category_id" varchar(255) null, "retailer_id" varchar(255) not null, "name" varchar(255) not null, "description" text null, "price" int not null, "image_url" varchar(255) null, "available" boolean not null default true, "stock" int null, "position" int not null default 0, primary key ("id"));`);
    this.addSql(`alter table "product" add constraint "product_shop_id_retailer_id_unique" unique ("shop_id", "retailer_id");`);

    this.addSql(`create table "presentation" ("id" varchar(255) not null, "product_id" varchar(255) not null, "name" varchar(255) not null, "price" int not null, "position" int not null default 0, primary key ("id"));`);

    this.addSql(`create table "modifier_group" ("id" varchar(255) not null, "product_id" varchar(255) not null, "name" varchar(255) not null, "min_select" int not null default 0, "max_select" int not null default 1, "position" int not null default 0, primary key ("id"));`);

    this.addSql(`create table "modifier_option" ("id" varchar(255) not null, "group_id" varchar(255) not null, "name" varchar(255) not null, "price_delta" int not null default 0, "available" boolean not null default true, "position" int not null default 0, primary key ("id"));`);

    this.addSql(`create table "booking" ("id" uuid not null, "shop_id" varchar(255) not null, "reference" varchar(255) not null, "description" varchar(255) not null, "total" int not null, "paid" int not null default 0, "currency" varchar(3) not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "booking" add constraint "booking_shop_id_reference_unique" unique ("shop_id", "reference");`);

    this.addSql(`create table "payment" ("id" uuid not null, "reference" varchar(255) not null, "idempotency_key" varchar(255) not null, "order_id" uuid null, "booking_id" uuid null, "shop_id" varchar(255) not null, "provider" varchar(255) not null, "method" varchar(255) not null, "attempt" int not null default 1, "status" varchar(255) not null, "amount" int not null, "currency" varchar(3) not null, "provider_reference" varchar(255) null, "transaction_reference" varchar(255) null, "callback_token_hash" varchar(255) null, "data" jsonb not null default '{}', "failure_reason" varchar(255) null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "payment" add constraint "payment_reference_unique" unique ("reference");`);
    this.addSql(`alter table "payment" add constraint "payment_idempotency_key_unique" unique ("idempotency_key");`);
    this.addSql(`alter table "payment" add constraint "payment_callback_token_hash_unique" unique ("callback_token_hash");`);
    this.addSql(`alter table "payment" add constraint "payment_provider_provider_reference_unique" unique ("provider", "provider_reference");`);

    this.addSql(`create table "payment_event" ("id" uuid not null, "provider" varchar(255) not null, "dedup_key" varchar(255) not null, "payment_id" uuid null, "outcome" varchar(255) not null, "security" boolean not null default false, "headers" jsonb not null default '{}', "raw" text not null, "received_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "payment_event" add constraint "payment_event_dedup_key_unique" unique ("dedup_key");`);

    this.addSql(`alter table "message" add constraint "message_shop_id_foreign" foreign key ("shop_id") references "shop" ("id");`);

    this.addSql(`alter table "customer" add constraint "customer_shop_id_foreign" foreign key ("shop_id") references "shop" ("id");`);

    this.addSql(`alter table "orders" add constraint "orders_shop_id_foreign" foreign key ("shop_id") references "shop" ("id");`);
    this.addSql(`alter table "orders" add constraint "orders_customer_id_foreign" foreign key ("customer_id") references "customer" ("id") on delete set null;`);

    this.addSql(`alter table "order_item" add constraint "order_item_order_id_foreign" foreign key ("order_id") references "orders" ("id");`);

    this.addSql(`alter table "order_event" add constraint "order_event_order_id_foreign" foreign key ("order_id") references "orders" ("id");`);

    this.addSql(`alter table "category" add constraint "category_shop_id_foreign" foreign key ("shop_id") references "shop" ("id");`);

    this.addSql(`alter table "product" add constraint "product_shop_id_foreign" foreign key ("shop_id") references "shop" ("id");`);
    this.addSql(`alter table "product" add constraint "product_category_id_foreign" foreign key ("category_id") references "category" ("id") on delete set null;`);

    this.addSql(`alter table "presentation" add constraint "presentation_product_id_foreign" foreign key ("product_id") references "product" ("id");`);

    this.addSql(`alter table "modifier_group" add constraint "modifier_group_product_id_foreign" foreign key ("product_id") references "product" ("id");`);

    this.addSql(`alter table "modifier_option" add constraint "modifier_option_group_id_foreign" foreign key ("group_id") references "modifier_group" ("id");`);

    this.addSql(`alter table "booking" add constraint "booking_shop_id_foreign" foreign key ("shop_id") references "shop" ("id");`);

    this.addSql(`alter table "payment" add constraint "payment_order_id_foreign" foreign key ("order_id") references "orders" ("id") on delete set null;`);
    this.addSql(`alter table "payment" add constraint "payment_booking_id_foreign" foreign key ("booking_id") references "booking" ("id") on delete set null;`);
    this.addSql(`alter table "payment" add constraint "payment_shop_id_foreign" foreign key ("shop_id") references "shop" ("id");`);

    this.addSql(`alter table "payment_event" add constraint "payment_event_payment_id_foreign" foreign key ("payment_id") references "payment" ("id") on delete set null;`);
  }

}

import { Migration } from '@mikro-orm/migrations';

/**
 * A shop's own main-menu entries (issue 9): a customer's answer to a request entry ("Request installation") is kept
 * for the shop's staff, once per WhatsApp message.
 */
export class Migration20261203230000 extends Migration {

  override name = 'Migration20261203230000';

  override up(): void | Promise<void> {
    this.addSql(`create table "customer_request" ("id" uuid not null, "shop_id" varchar(255) not null, "customer_ref" varchar(255) not null, "wa_message_id" varchar(255) not null, "title" varchar(255) not null, "body" text not null, "created_at" timestamptz not null, "handled_at" timestamptz null, constraint "customer_request_pkey" primary key ("id"));`);
    this.addSql(`alter table "customer_request" add constraint "customer_request_wa_message_id_unique" unique ("wa_message_id");`);
    this.addSql(`alter table "customer_request" add constraint "customer_request_shop_id_foreign" foreign key ("shop_id") references "shop" ("id") on update cascade on delete cascade;`);
    this.addSql(`create index "customer_request_shop_id_created_at_index" on "customer_request" ("shop_id", "created_at");`);
    // Shops opened through the admin API before this had their empty entries stored as the JSON string "[]".
    this.addSql(`update "shop" set "menu_extras" = '[]'::jsonb where jsonb_typeof("menu_extras") <> 'array';`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "customer_request" cascade;`);
  }

}

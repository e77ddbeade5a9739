import { Migration } from '@mikro-orm/migrations';

export class Migration20261203100000 extends Migration {

  override name = 'Migration20261203100000';

  override up(): void | Promise<void> {
    this.addSql(`create table "message_intent" ("intent_key" varchar(64) not null, "shop_id" varchar(255) not null, "customer_ref" varchar(255) not null, "workflow_id" varchar(255) not null, "run_id" varchar(255) not null, "activity_id" varchar(255) not null, "state" varchar(255) not null, "via" varchar(255) null, "message_type" varchar(255) null, "wa_message_id" varchar(255) null, "attempt" int not null default 0, "requests" int not null default 0, "last_error" text null, "claimed_at" timestamptz null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("intent_key"));`);
    this.addSql(`alter table "message_intent" add constraint "message_intent_wa_message_id_unique" unique ("wa_message_id");`);
    this.addSql(`create index "message_intent_state_updated_at_index" on "message_intent" ("state", "updated_at");`);
    this.addSql(`alter table "message_intent" add constraint "message_intent_shop_id_foreign" foreign key ("shop_id") references "shop" ("id");`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "message_intent" cascade;`);
  }

}

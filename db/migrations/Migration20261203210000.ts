import { Migration } from '@mikro-orm/migrations';

/**
 * A shop's WhatsApp Flows (issue 10): the Graph flow id of each committed Flow (`customise`, `payment`) once
 * `POST /api/admin/shops/:shopId/flows/deploy` has created it, its last known status and Meta's validation errors.
 */
export class Migration20261203210000 extends Migration {

  override name = 'Migration20261203210000';

  override up(): void | Promise<void> {
    this.addSql(`create table "whatsapp_flow" ("shop_id" varchar(255) not null, "kind" varchar(32) not null, "flow_id" varchar(255) not null, "name" varchar(255) not null, "status" varchar(32) not null, "validation_errors" jsonb not null default '[]', "deployed_at" timestamptz not null, constraint "whatsapp_flow_pkey" primary key ("shop_id", "kind"));`);
    this.addSql(`alter table "whatsapp_flow" add constraint "whatsapp_flow_shop_id_foreign" foreign key ("shop_id") references "shop" ("id") on update cascade on delete cascade;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "whatsapp_flow" cascade;`);
  }

}

import { Migration } from '@mikro-orm/migrations';

/**
 * Self-healing hand-off (issue 12): an inbound message keeps what its conversation needs (`payload`) until it is handed
 * off to Temporal, so duka re-drives it from its own row once Temporal answers again; the payload is cleared on hand-off.
 */
export class Migration20261203160000 extends Migration {

  override name = 'Migration20261203160000';

  override up(): void | Promise<void> {
    this.addSql(`alter table "message" add column "payload" jsonb null;`);
    this.addSql(`create index "message_pending_hand_off_index" on "message" ("created_at") where "handed_off_at" is null and "payload" is not null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index if exists "message_pending_hand_off_index";`);
    this.addSql(`alter table "message" drop column "payload";`);
  }

}

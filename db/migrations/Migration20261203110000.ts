import { Migration } from '@mikro-orm/migrations';

/**
 * Payments are keyed on duka's own reference and the providers' unique ids, never on a display code: O'mari's
 * otpReference (a short code shown beside the SMS, which two customers can be given at once) leaves the unique
 * (provider, provider_reference) and stays in `data`. And the initiation marker: `sending` is committed before a
 * provider is called, so a retry never starts a second payment for the same attempt.
 */
export class Migration20261203110000 extends Migration {

  override name = 'Migration20261203110000';

  override up(): void | Promise<void> {
    this.addSql(`update "payment" set "data" = jsonb_set("data", '{otpReference}', to_jsonb("provider_reference")) where "provider" = 'omari' and "provider_reference" is not null and ("data" -> 'otpReference') is null;`);
    this.addSql(`update "payment" set "provider_reference" = null where "provider" = 'omari';`);
    this.addSql(`alter table "payment" add column "initiation" varchar(255) null;`);
    this.addSql(`update "payment" set "initiation" = case when ("data" -> 'customerAction') is not null then 'answered' when "status" = 'pending' then 'sending' else 'not_sent' end;`);
  }

  override down(): void | Promise<void> {
    // O'mari's otpReference is not put back into provider_reference: two payments may share one, which the unique
    // constraint would refuse. It stays in `data`.
    this.addSql(`alter table "payment" drop column "initiation";`);
  }

}

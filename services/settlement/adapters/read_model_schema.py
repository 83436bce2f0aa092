"""DDL of the settlement read models (asyncpg), all in the service's own schema.

No read model holds a patient control number or payer claim number in plain text
(services/common/phi.py): `*_index` columns hold keyed hashes (what matching looks up),
`*_sealed` columns the sealed value a person reads back (the exceptions queue, payments).
Columns that held plain values in earlier releases are dropped; rebuild the claim facts and the
settlement read models once after upgrading (docs/operations.md §8a).
"""

from __future__ import annotations


def statements(schema: str) -> list[str]:
    s = f'"{schema}"'
    return [
        f"CREATE SCHEMA IF NOT EXISTS {s}",
        f"""CREATE TABLE IF NOT EXISTS {s}.claim_refs (
            tenant_id text NOT NULL, claim_id text NOT NULL,
            billing_npi text NOT NULL DEFAULT '', billing_tin text NOT NULL DEFAULT '',
            first_service_date date, charge_cents bigint NOT NULL DEFAULT 0,
            payer_id text NOT NULL DEFAULT '', nsa_protected boolean,
            PRIMARY KEY (tenant_id, claim_id))""",
        # Matching facts by keyed hash: CLP01 (rule 1), the ICNs (rules 2-3: the adjudication's
        # and those settlement's payments saw), the proper prefixes of CLM01 (rule 4).
        f"""ALTER TABLE {s}.claim_refs
            DROP COLUMN IF EXISTS patient_control_number, DROP COLUMN IF EXISTS icns,
            ADD COLUMN IF NOT EXISTS pcn_index text NOT NULL DEFAULT '',
            ADD COLUMN IF NOT EXISTS pcn_prefix_indexes text[] NOT NULL DEFAULT '{{}}',
            ADD COLUMN IF NOT EXISTS icn_indexes text[] NOT NULL DEFAULT '{{}}'""",
        f"""CREATE INDEX IF NOT EXISTS claim_refs_pcn_index ON {s}.claim_refs
            (tenant_id, pcn_index)""",
        f"""CREATE INDEX IF NOT EXISTS claim_refs_icn_indexes ON {s}.claim_refs
            USING gin (icn_indexes)""",
        f"""CREATE INDEX IF NOT EXISTS claim_refs_pcn_prefixes ON {s}.claim_refs
            USING gin (pcn_prefix_indexes)""",
        # Rule 5 (line matching): the 837 lines from ClaimRegistered; claims registered before
        # this column existed keep '[]' (their SVCs are recorded as unmatched, never guessed).
        f"""ALTER TABLE {s}.claim_refs
            ADD COLUMN IF NOT EXISTS lines jsonb NOT NULL DEFAULT '[]'""",
        # The claims service recorded the payer's adjudication (AdjudicationRecorded): a CLP for
        # a claim without one and without a settlement is its initial adjudication. Rows of
        # claims projected before this column stay false until claim_refs is rebuilt.
        f"""ALTER TABLE {s}.claim_refs
            ADD COLUMN IF NOT EXISTS adjudicated boolean NOT NULL DEFAULT false""",
        f"""CREATE TABLE IF NOT EXISTS {s}.settlements (
            tenant_id text NOT NULL, claim_id text NOT NULL, settlement_id uuid NOT NULL,
            source text NOT NULL, source_ref text NOT NULL, payer_id text NOT NULL,
            agreed_total_cents bigint NOT NULL, patient_cost_sharing_cents bigint NOT NULL,
            already_paid_cents bigint NOT NULL, paid_cents bigint NOT NULL,
            interest_cents bigint NOT NULL DEFAULT 0, patient_balance_cents bigint NOT NULL,
            decided_on date NOT NULL, due_date date NOT NULL, nsa_protected boolean NOT NULL,
            last_variance text NOT NULL DEFAULT '', overdue_flagged_on date,
            PRIMARY KEY (tenant_id, claim_id))""",
        # Negotiation's amount owed, as stated in the agreement or award (docs/events.md);
        # rows projected before it travelled get what negotiation's rule said for them.
        f"""ALTER TABLE {s}.settlements ADD COLUMN IF NOT EXISTS amount_owed_cents bigint""",
        f"""UPDATE {s}.settlements SET amount_owed_cents =
            agreed_total_cents - patient_cost_sharing_cents - already_paid_cents
            WHERE amount_owed_cents IS NULL""",  # noqa: S608 (schema name validated in Settings)
        f"""CREATE INDEX IF NOT EXISTS settlements_open ON {s}.settlements
            (tenant_id, payer_id, due_date)""",
        f"""CREATE TABLE IF NOT EXISTS {s}.payments (
            tenant_id text NOT NULL, claim_id text NOT NULL, payment_id text NOT NULL,
            amount_cents bigint NOT NULL, method text NOT NULL, reference text NOT NULL,
            paid_on date NOT NULL,
            reversed boolean NOT NULL DEFAULT false, remittance_id text NOT NULL DEFAULT '',
            seq bigint NOT NULL,
            PRIMARY KEY (tenant_id, claim_id, payment_id))""",
        f"""CREATE TABLE IF NOT EXISTS {s}.journal_transactions (
            tenant_id text NOT NULL, transaction_id text NOT NULL, reverses text NOT NULL,
            description text NOT NULL, claim_id text NOT NULL, remittance_id text NOT NULL,
            event_type text NOT NULL, seq bigint NOT NULL,
            PRIMARY KEY (tenant_id, transaction_id))""",
        f"""CREATE INDEX IF NOT EXISTS journal_by_claim ON {s}.journal_transactions
            (tenant_id, claim_id)""",
        f"""CREATE TABLE IF NOT EXISTS {s}.journal_postings (
            tenant_id text NOT NULL, transaction_id text NOT NULL, line int NOT NULL,
            account text NOT NULL, amount_cents bigint NOT NULL,
            PRIMARY KEY (tenant_id, transaction_id, line))""",
        f"""CREATE TABLE IF NOT EXISTS {s}.remittance_files (
            tenant_id text NOT NULL, file_id uuid NOT NULL, file_name text NOT NULL,
            content_sha256 text NOT NULL, outcome text NOT NULL,
            reasons text[] NOT NULL DEFAULT '{{}}', trace_numbers text[] NOT NULL DEFAULT '{{}}',
            seq bigint NOT NULL, PRIMARY KEY (tenant_id, file_id))""",
        f"""CREATE TABLE IF NOT EXISTS {s}.remittances (
            tenant_id text NOT NULL, remittance_id uuid NOT NULL, file_id text NOT NULL,
            trace_number text NOT NULL, payer_id text NOT NULL, payment_date date,
            total_paid_cents bigint NOT NULL, claim_count int NOT NULL,
            matched_count int NOT NULL, exception_count int NOT NULL,
            PRIMARY KEY (tenant_id, remittance_id))""",
        f"""CREATE TABLE IF NOT EXISTS {s}.projected_versions (
            aggregate_id text PRIMARY KEY, version bigint NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS {s}.payment_exceptions (
            tenant_id text NOT NULL, exception_id uuid NOT NULL, remittance_id text NOT NULL,
            trace_number text NOT NULL, ordinal int NOT NULL,
            status_code text NOT NULL, charge_cents bigint NOT NULL, paid_cents bigint NOT NULL,
            reason text NOT NULL, candidate_claim_id text NOT NULL,
            resolved_claim_id text NOT NULL DEFAULT '', seq bigint NOT NULL,
            PRIMARY KEY (tenant_id, exception_id))""",
        # Rule 5: which 837 line each 835 line paid, per posted payment.
        f"""ALTER TABLE {s}.payments
            ADD COLUMN IF NOT EXISTS lines jsonb NOT NULL DEFAULT '[]'""",
        # Service-line exceptions share the queue: kind 'claim' (a CLP) or 'line' (an SVC).
        f"""ALTER TABLE {s}.payment_exceptions
            ADD COLUMN IF NOT EXISTS kind text NOT NULL DEFAULT 'claim',
            ADD COLUMN IF NOT EXISTS claim_id text NOT NULL DEFAULT '',
            ADD COLUMN IF NOT EXISTS line_ordinal int NOT NULL DEFAULT 0,
            ADD COLUMN IF NOT EXISTS line_control_number text NOT NULL DEFAULT '',
            ADD COLUMN IF NOT EXISTS procedure_code text NOT NULL DEFAULT '',
            ADD COLUMN IF NOT EXISTS service_date date,
            ADD COLUMN IF NOT EXISTS line_outcome text NOT NULL DEFAULT '',
            ADD COLUMN IF NOT EXISTS candidate_lines int[] NOT NULL DEFAULT '{{}}',
            ADD COLUMN IF NOT EXISTS resolved_line_control_number text NOT NULL DEFAULT ''""",
        # Identifiers by keyed hash and sealed (earlier releases kept them plain: dropped).
        f"""ALTER TABLE {s}.payments
            DROP COLUMN IF EXISTS payer_claim_control_number,
            ADD COLUMN IF NOT EXISTS payer_claim_control_number_index text NOT NULL DEFAULT '',
            ADD COLUMN IF NOT EXISTS payer_claim_control_number_sealed text NOT NULL DEFAULT ''""",
        f"""ALTER TABLE {s}.payment_exceptions
            DROP COLUMN IF EXISTS patient_control_number,
            DROP COLUMN IF EXISTS payer_claim_control_number,
            ADD COLUMN IF NOT EXISTS patient_control_number_index text NOT NULL DEFAULT '',
            ADD COLUMN IF NOT EXISTS patient_control_number_sealed text NOT NULL DEFAULT '',
            ADD COLUMN IF NOT EXISTS payer_claim_control_number_index text NOT NULL DEFAULT '',
            ADD COLUMN IF NOT EXISTS payer_claim_control_number_sealed text NOT NULL DEFAULT ''""",
        # Why a claim exception was resolved (UnmatchedClaimPaymentResolved.cause; rows
        # resolved before it existed were resolved by hand).
        f"""ALTER TABLE {s}.payment_exceptions
            ADD COLUMN IF NOT EXISTS resolution_cause text NOT NULL DEFAULT ''""",
        # Why posting a waiting claim exception when its settlement opened was refused
        # (AutomaticPostingRefused), and when; '' when it never was.
        f"""ALTER TABLE {s}.payment_exceptions
            ADD COLUMN IF NOT EXISTS automatic_posting_refusal text NOT NULL DEFAULT '',
            ADD COLUMN IF NOT EXISTS automatic_posting_refused_at text NOT NULL DEFAULT ''""",
    ]

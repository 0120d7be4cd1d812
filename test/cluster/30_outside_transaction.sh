#!/usr/bin/env bash
# What the pgTAP suites cannot test inside their one transaction:
#   - sessions that start in replica mode, from a role setting stored while
#     nothing was protected or from PGOPTIONS: no statement set it, yet
#     UPDATE, DELETE and TRUNCATE stay refused, and RESET back to that
#     replica value is refused;
#   - maintenance that refuses to run in a transaction block (VACUUM, VACUUM
#     FULL, CREATE/REINDEX/DROP INDEX CONCURRENTLY) keeps working and keeps
#     the rows;
#   - DETACH PARTITION CONCURRENTLY: refused to the table owner and to the
#     superuser, allowed to the designated owner, and the detached partition
#     stays protected.
set -uo pipefail
source "${AG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/cluster.sh"
ag_cluster_attach || exit 1

db=ag_outside_tx
roles=(regress_otx_owner regress_otx_guard regress_otx_login)
ag_fresh_database "$db" "${roles[@]}" || exit 1
ag_psql -d "$db" <<SQL >/dev/null || exit 1
CREATE EXTENSION audit_guard;
ALTER ROLE regress_otx_login LOGIN;
GRANT regress_otx_owner TO regress_otx_guard;
GRANT CREATE ON SCHEMA public TO regress_otx_owner;
-- stored while nothing is protected: allowed, and applied at login
ALTER ROLE regress_otx_login IN DATABASE $db SET session_replication_role = replica;
CREATE TABLE audit_log (id int PRIMARY KEY, note text);
INSERT INTO audit_log VALUES (1, 'one'), (2, 'two'), (3, 'three');
CREATE TABLE events (id int, at int NOT NULL, note text) PARTITION BY RANGE (at);
CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM (0) TO (100);
CREATE TABLE events_2 PARTITION OF events FOR VALUES FROM (100) TO (200);
INSERT INTO events VALUES (1, 10, 'one'), (2, 110, 'two');
ALTER TABLE audit_log OWNER TO regress_otx_owner;
ALTER TABLE events OWNER TO regress_otx_owner;
ALTER TABLE events_1 OWNER TO regress_otx_owner;
ALTER TABLE events_2 OWNER TO regress_otx_owner;
GRANT ALL ON audit_log, events, events_1, events_2 TO regress_otx_login;
SELECT audit_guard.protect('audit_log', owner => 'regress_otx_guard');
SELECT audit_guard.protect('events', owner => 'regress_otx_guard');
SQL

fingerprint="SELECT (SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY id)) FROM audit_log t)
	|| ' ' || (SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY id)) FROM events t)"
want=$(ag_scalar "$db" "$fingerprint")

# A role whose stored setting puts its sessions in replica mode
login() { PGUSER=regress_otx_login "$@"; }
ag_is "$(login ag_scalar "$db" "SHOW session_replication_role")" replica \
	"role setting: the session starts in replica mode"
login ag_sqlstate "$db" 23000 "DELETE FROM audit_log" "role setting, replica: DELETE refused"
login ag_sqlstate "$db" 23000 "UPDATE audit_log SET note = 'x'" "role setting, replica: UPDATE refused"
login ag_sqlstate "$db" 23000 "TRUNCATE audit_log" "role setting, replica: TRUNCATE refused"
login ag_sqlstate "$db" 23000 "DELETE FROM events_2" "role setting, replica: DELETE on a partition refused"
login ag_sqlstate "$db" 23000 "TRUNCATE ONLY events_1" "role setting, replica: TRUNCATE ONLY partition refused"
ag_ok "role setting, replica: INSERT works" \
	login ag_psql -d "$db" -c "INSERT INTO audit_log VALUES (4, 'replica insert')"
login ag_sqlstate "$db" 42501 "SET session_replication_role = origin; RESET session_replication_role" \
	"role setting: RESET back to replica is refused"
login ag_sqlstate "$db" 42501 "SET session_replication_role = DEFAULT" \
	"role setting: SET ... TO DEFAULT (replica) is refused"

# The superuser's PGOPTIONS
pgoptions() { PGOPTIONS="-c session_replication_role=replica" "$@"; }
ag_is "$(pgoptions ag_scalar "$db" "SHOW session_replication_role")" replica \
	"PGOPTIONS: the superuser's session starts in replica mode"
pgoptions ag_sqlstate "$db" 23000 "DELETE FROM audit_log" "PGOPTIONS, replica: DELETE refused"
pgoptions ag_sqlstate "$db" 23000 "TRUNCATE audit_log, events" "PGOPTIONS, replica: TRUNCATE refused"
pgoptions ag_sqlstate "$db" 23000 "MERGE INTO audit_log a USING (VALUES (1)) v(id) ON a.id = v.id
	WHEN MATCHED THEN DELETE" "PGOPTIONS, replica: MERGE ... DELETE refused"
want=$(ag_scalar "$db" "$fingerprint")	# the replica-mode INSERT added a row

# Maintenance outside a transaction block, as the table owner and as superuser
as_owner() { ag_psql -d "$db" -c "SET ROLE regress_otx_owner" -c "$1"; }
ag_ok "table owner: VACUUM" as_owner "VACUUM audit_log"
ag_ok "table owner: VACUUM (FREEZE, ANALYZE)" as_owner "VACUUM (FREEZE, ANALYZE) audit_log"
ag_ok "table owner: VACUUM FULL" as_owner "VACUUM FULL audit_log"
ag_ok "table owner: VACUUM FULL of the partitioned table" as_owner "VACUUM FULL events"
ag_ok "table owner: CREATE INDEX CONCURRENTLY" as_owner "CREATE INDEX CONCURRENTLY audit_log_note ON audit_log (note)"
ag_ok "table owner: REINDEX TABLE CONCURRENTLY" as_owner "REINDEX TABLE CONCURRENTLY audit_log"
ag_ok "table owner: DROP INDEX CONCURRENTLY" as_owner "DROP INDEX CONCURRENTLY audit_log_note"
ag_ok "superuser: VACUUM FULL ANALYZE" ag_psql -d "$db" -c "VACUUM FULL ANALYZE audit_log"
ag_ok "superuser: VACUUM of the whole database" ag_psql -d "$db" -c "VACUUM"
ag_is "$(ag_scalar "$db" "$fingerprint")" "$want" "maintenance: rows unchanged"
ag_sqlstate "$db" 23000 "DELETE FROM audit_log" "after VACUUM FULL: still protected"

# DETACH PARTITION CONCURRENTLY
ag_sqlstate "$db" 42501 "SET ROLE regress_otx_owner; ALTER TABLE events DETACH PARTITION events_1 CONCURRENTLY" \
	"table owner: DETACH PARTITION CONCURRENTLY refused"
ag_sqlstate "$db" 42501 "ALTER TABLE events DETACH PARTITION events_1 CONCURRENTLY" \
	"superuser: DETACH PARTITION CONCURRENTLY refused"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM pg_inherits WHERE inhrelid = 'events_1'::regclass")" 1 \
	"events_1 is still attached"
ag_ok "designated owner: DETACH PARTITION CONCURRENTLY" \
	ag_psql -d "$db" -c "SET ROLE regress_otx_guard" \
	-c "ALTER TABLE events DETACH PARTITION events_1 CONCURRENTLY"
ag_is "$(ag_scalar "$db" "SELECT count(*) FROM pg_inherits WHERE inhrelid = 'events_1'::regclass")" 0 \
	"events_1 is detached"
ag_is "$(ag_scalar "$db" "SELECT designated_owner FROM audit_guard.protected_tables WHERE table_name = 'events_1'::regclass")" \
	regress_otx_guard "the detached partition stays in the registry"
ag_is "$(ag_scalar "$db" "SELECT string_agg(tgname || '=' || tgenabled::text, ',' ORDER BY tgname)
	FROM pg_trigger WHERE tgrelid = 'events_1'::regclass")" \
	"audit_guard_append_only=A,audit_guard_no_truncate=A" \
	"the detached partition has guard triggers of its own, ENABLE ALWAYS"
ag_sqlstate "$db" 23000 "DELETE FROM events_1" "the detached partition: DELETE refused"
ag_sqlstate "$db" 23000 "TRUNCATE events_1" "the detached partition: TRUNCATE refused"
ag_is "$(ag_scalar "$db" "SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM events_1)")" 2 \
	"no event row lost"

ag_psql -d "$db" -c "SET ROLE regress_otx_guard" \
	-c "SELECT audit_guard.unprotect('audit_log')" \
	-c "SELECT audit_guard.unprotect('events')" \
	-c "SELECT audit_guard.unprotect('events_1')" >/dev/null
ag_drop_database "$db" "${roles[@]}"
ag_done

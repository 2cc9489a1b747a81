-- Tasker test double: the subset of Tasker's schema (tasker-core, `migrations/`) that a worker
-- touches, plus what the orchestration simulator needs to drive it. TEST AND DEMO TOOLING, NOT
-- PRODUCT CODE. Column names, types, NOT NULL-ness, defaults, check constraints and the
-- most-recent unique indexes follow Tasker's flattened schema; what is left out (DLQ, audit,
-- readiness functions, annotations, ...) is listed in tasker_double/README.md.
--
-- UUIDs are version 7 like Tasker's (`tasker.uuid_generate_v7()`, which Tasker maps to
-- PostgreSQL 18's uuidv7()): here a plpgsql version built on gen_random_uuid() (PostgreSQL 13+
-- and PGlite) with the sub-millisecond clock in rand_a, so UUIDs sort in creation order. That
-- order is visible to workers: get_step_transitive_dependencies sorts ancestors by UUID, so the
-- dependency results a handler sees come in step creation order, as with Tasker.
-- Faithful details that matter to a worker:
-- - created_at/updated_at are NOT NULL WITHOUT a default (Tasker's application sets them), so a
--   worker inserting a transition must set both, as Tasker's own worker does.
-- - get_step_transitive_dependencies returns one row per path (UNION ALL, as Tasker's does): on a
--   diamond the shared ancestor comes back twice. Key the rows by step name.
--
-- Every statement is idempotent; install_tasker_double.ts runs them in one transaction under an
-- advisory lock. Statements are split on semicolons outside quotes, dollar quotes and comments.

CREATE SCHEMA IF NOT EXISTS tasker;

-- UUID version 7: 48-bit Unix milliseconds, then 12 bits of sub-millisecond time (monotonic
-- within a session, as PostgreSQL 18's uuidv7() is), then random bits from gen_random_uuid().
CREATE OR REPLACE FUNCTION tasker.uuid_generate_v7()
RETURNS uuid
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_us bigint := floor(extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
    v_sub integer := (((v_us % 1000) * 4096) / 1000)::integer;
    v_bytes bytea := uuid_send(gen_random_uuid());
BEGIN
    v_bytes := overlay(v_bytes PLACING substring(int8send(v_us / 1000) FROM 3) FROM 1 FOR 6);
    v_bytes := set_byte(v_bytes, 6, 112 | (v_sub >> 8));
    v_bytes := set_byte(v_bytes, 7, v_sub & 255);
    RETURN encode(v_bytes, 'hex')::uuid;
END;
$$;

CREATE TABLE IF NOT EXISTS tasker.task_namespaces (
    task_namespace_uuid uuid DEFAULT tasker.uuid_generate_v7() NOT NULL PRIMARY KEY,
    name character varying(64) NOT NULL UNIQUE,
    description character varying(255),
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL
);

CREATE TABLE IF NOT EXISTS tasker.dependent_systems (
    dependent_system_uuid uuid DEFAULT tasker.uuid_generate_v7() NOT NULL PRIMARY KEY,
    name character varying(64) NOT NULL UNIQUE,
    description character varying(255),
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL
);

CREATE TABLE IF NOT EXISTS tasker.named_tasks (
    named_task_uuid uuid DEFAULT tasker.uuid_generate_v7() NOT NULL PRIMARY KEY,
    task_namespace_uuid uuid NOT NULL REFERENCES tasker.task_namespaces (task_namespace_uuid),
    name character varying(64) NOT NULL,
    description character varying(255),
    version character varying(16) DEFAULT '0.1.0' NOT NULL,
    configuration jsonb DEFAULT '{}'::jsonb,
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL,
    CONSTRAINT named_tasks_namespace_name_version_unique UNIQUE (task_namespace_uuid, name, version)
);

CREATE TABLE IF NOT EXISTS tasker.named_steps (
    named_step_uuid uuid DEFAULT tasker.uuid_generate_v7() NOT NULL PRIMARY KEY,
    dependent_system_uuid uuid NOT NULL REFERENCES tasker.dependent_systems (dependent_system_uuid),
    name character varying(128) NOT NULL,
    description character varying(255),
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL,
    CONSTRAINT named_steps_system_name_unique UNIQUE (dependent_system_uuid, name)
);

CREATE TABLE IF NOT EXISTS tasker.tasks (
    task_uuid uuid DEFAULT tasker.uuid_generate_v7() NOT NULL PRIMARY KEY,
    named_task_uuid uuid NOT NULL REFERENCES tasker.named_tasks (named_task_uuid),
    complete boolean DEFAULT false NOT NULL,
    requested_at timestamp without time zone NOT NULL,
    completed_at timestamp without time zone,
    initiator character varying(128),
    source_system character varying(128),
    reason character varying(128),
    bypass_steps json,
    tags jsonb,
    context jsonb,
    identity_hash character varying(128) NOT NULL,
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL,
    priority integer DEFAULT 0 NOT NULL,
    correlation_id uuid NOT NULL,
    parent_correlation_id uuid
);

CREATE INDEX IF NOT EXISTS idx_tasks_correlation_id ON tasker.tasks (correlation_id);

CREATE INDEX IF NOT EXISTS idx_tasks_named_task_uuid ON tasker.tasks (named_task_uuid);

CREATE TABLE IF NOT EXISTS tasker.workflow_steps (
    workflow_step_uuid uuid DEFAULT tasker.uuid_generate_v7() NOT NULL PRIMARY KEY,
    task_uuid uuid NOT NULL REFERENCES tasker.tasks (task_uuid),
    named_step_uuid uuid NOT NULL REFERENCES tasker.named_steps (named_step_uuid),
    retryable boolean DEFAULT true NOT NULL,
    max_attempts integer DEFAULT 3,
    in_process boolean DEFAULT false NOT NULL,
    processed boolean DEFAULT false NOT NULL,
    processed_at timestamp without time zone,
    attempts integer,
    last_attempted_at timestamp without time zone,
    backoff_request_seconds integer,
    inputs jsonb,
    results jsonb,
    skippable boolean DEFAULT false NOT NULL,
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL,
    priority integer DEFAULT 0 NOT NULL,
    checkpoint jsonb
);

CREATE INDEX IF NOT EXISTS idx_workflow_steps_task_uuid ON tasker.workflow_steps (task_uuid);

CREATE TABLE IF NOT EXISTS tasker.workflow_step_edges (
    workflow_step_edge_uuid uuid DEFAULT tasker.uuid_generate_v7() NOT NULL PRIMARY KEY,
    from_step_uuid uuid NOT NULL REFERENCES tasker.workflow_steps (workflow_step_uuid),
    to_step_uuid uuid NOT NULL REFERENCES tasker.workflow_steps (workflow_step_uuid),
    name character varying NOT NULL,
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL,
    CONSTRAINT unique_edge_per_step_pair UNIQUE (from_step_uuid, to_step_uuid, name)
);

CREATE INDEX IF NOT EXISTS idx_workflow_step_edges_from_step
    ON tasker.workflow_step_edges (from_step_uuid);

CREATE INDEX IF NOT EXISTS idx_workflow_step_edges_to_step
    ON tasker.workflow_step_edges (to_step_uuid);

CREATE TABLE IF NOT EXISTS tasker.workflow_step_transitions (
    workflow_step_transition_uuid uuid DEFAULT tasker.uuid_generate_v7() NOT NULL PRIMARY KEY,
    workflow_step_uuid uuid NOT NULL REFERENCES tasker.workflow_steps (workflow_step_uuid),
    to_state character varying NOT NULL,
    from_state character varying,
    metadata jsonb DEFAULT '{}'::jsonb,
    sort_key integer NOT NULL,
    most_recent boolean DEFAULT false NOT NULL,
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL,
    CONSTRAINT chk_workflow_step_transitions_from_state CHECK (from_state IS NULL OR from_state IN (
        'pending', 'enqueued', 'in_progress', 'enqueued_for_orchestration',
        'enqueued_as_error_for_orchestration', 'waiting_for_retry', 'complete', 'error',
        'cancelled', 'resolved_manually')),
    CONSTRAINT chk_workflow_step_transitions_to_state CHECK (to_state IN (
        'pending', 'enqueued', 'in_progress', 'enqueued_for_orchestration',
        'enqueued_as_error_for_orchestration', 'waiting_for_retry', 'complete', 'error',
        'cancelled', 'resolved_manually'))
);

-- The claim protocol rests on this index: a second "most recent" row for a step is a unique
-- violation (23505), which a racing claimer reads as "already claimed".
CREATE UNIQUE INDEX IF NOT EXISTS idx_workflow_step_transitions_uuid_most_recent
    ON tasker.workflow_step_transitions (workflow_step_uuid, most_recent) WHERE most_recent = true;

CREATE INDEX IF NOT EXISTS idx_workflow_step_transitions_uuid_sort_key
    ON tasker.workflow_step_transitions (workflow_step_uuid, sort_key);

CREATE TABLE IF NOT EXISTS tasker.task_transitions (
    task_transition_uuid uuid DEFAULT tasker.uuid_generate_v7() NOT NULL PRIMARY KEY,
    task_uuid uuid NOT NULL REFERENCES tasker.tasks (task_uuid),
    to_state character varying NOT NULL,
    from_state character varying,
    metadata jsonb DEFAULT '{}'::jsonb,
    sort_key integer NOT NULL,
    most_recent boolean DEFAULT false NOT NULL,
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL,
    processor_uuid uuid,
    transition_metadata jsonb DEFAULT '{}'::jsonb,
    CONSTRAINT chk_task_transitions_from_state CHECK (from_state IS NULL OR from_state IN (
        'pending', 'initializing', 'enqueuing_steps', 'steps_in_process', 'evaluating_results',
        'waiting_for_dependencies', 'waiting_for_retry', 'blocked_by_failures', 'complete',
        'error', 'cancelled', 'resolved_manually')),
    CONSTRAINT chk_task_transitions_to_state CHECK (to_state IN (
        'pending', 'initializing', 'enqueuing_steps', 'steps_in_process', 'evaluating_results',
        'waiting_for_dependencies', 'waiting_for_retry', 'blocked_by_failures', 'complete',
        'error', 'cancelled', 'resolved_manually'))
);

CREATE UNIQUE INDEX IF NOT EXISTS idx_task_transitions_uuid_most_recent
    ON tasker.task_transitions (task_uuid, most_recent) WHERE most_recent = true;

CREATE INDEX IF NOT EXISTS idx_task_transitions_uuid_sort_key
    ON tasker.task_transitions (task_uuid, sort_key);

-- Every ancestor of a step through workflow_step_edges, nearest first. One row per path, like
-- Tasker's (UNION ALL, recursion capped at distance 50): a diamond's shared ancestor appears
-- once for each path to it.
CREATE OR REPLACE FUNCTION tasker.get_step_transitive_dependencies(target_step_uuid uuid)
RETURNS TABLE(
    workflow_step_uuid uuid,
    task_uuid uuid,
    named_step_uuid uuid,
    step_name character varying,
    results jsonb,
    processed boolean,
    distance integer
)
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    RETURN QUERY
    WITH RECURSIVE transitive_deps AS (
        SELECT ws.workflow_step_uuid, ws.task_uuid, ws.named_step_uuid, ns.name AS step_name,
               ws.results, ws.processed, 1 AS distance
        FROM tasker.workflow_step_edges wse
        JOIN tasker.workflow_steps ws ON ws.workflow_step_uuid = wse.from_step_uuid
        JOIN tasker.named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
        WHERE wse.to_step_uuid = target_step_uuid

        UNION ALL

        SELECT ws.workflow_step_uuid, ws.task_uuid, ws.named_step_uuid, ns.name AS step_name,
               ws.results, ws.processed, td.distance + 1
        FROM transitive_deps td
        JOIN tasker.workflow_step_edges wse ON wse.to_step_uuid = td.workflow_step_uuid
        JOIN tasker.workflow_steps ws ON ws.workflow_step_uuid = wse.from_step_uuid
        JOIN tasker.named_steps ns ON ns.named_step_uuid = ws.named_step_uuid
        WHERE td.distance < 50
    )
    SELECT td.workflow_step_uuid, td.task_uuid, td.named_step_uuid, td.step_name,
           td.results, td.processed, td.distance
    FROM transitive_deps td
    ORDER BY td.distance ASC, td.workflow_step_uuid ASC;
END;
$$;

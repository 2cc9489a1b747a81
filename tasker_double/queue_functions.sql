-- Tasker test double, the queue side: what Tasker installs beside pgmq (tasker-core's pgmq
-- migrations). TEST AND DEMO TOOLING, NOT PRODUCT CODE. It lives where the queues live: in
-- Tasker's database by default, in the queue database when PGMQ_DATABASE_URL keeps the queues
-- apart (Tasker's split of its migrations into `migrations/tasker` and `migrations/pgmq`).
-- Needs pgmq.
--
-- Every statement is idempotent; install_tasker_double.ts runs them in one transaction under an
-- advisory lock. Statements are split on semicolons outside quotes, dollar quotes and comments.

CREATE SCHEMA IF NOT EXISTS tasker;

-- Queue name → notification namespace, as Tasker's extract_queue_namespace does:
-- orchestration* → orchestration, worker_<ns>_queue → <ns>, <ns>_queue → <ns>, else default.
CREATE OR REPLACE FUNCTION tasker.extract_queue_namespace(queue_name text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF queue_name ~ '^orchestration' THEN
        RETURN 'orchestration';
    END IF;
    IF queue_name ~ '^worker_.*_queue$' THEN
        RETURN COALESCE((regexp_match(queue_name, '^worker_(.+?)_queue$'))[1], 'worker');
    END IF;
    IF queue_name ~ '^[a-zA-Z][a-zA-Z0-9_]*_queue$' THEN
        RETURN COALESCE((regexp_match(queue_name, '^([a-zA-Z][a-zA-Z0-9_]*)_queue$'))[1], 'default');
    END IF;
    RETURN 'default';
END;
$$;

-- pgmq.send plus pg_notify in the sender's transaction (listeners see the notification only when
-- it commits). Payloads: `message_with_payload` (with the message) when the message's JSON text is
-- under 7000 characters, else `message_ready` with `payload_omitted`; both go to
-- `pgmq_message_ready.<namespace>` and to the global `pgmq_message_ready`.
CREATE OR REPLACE FUNCTION tasker.pgmq_send_with_notify(
    queue_name text,
    message jsonb,
    delay_seconds integer DEFAULT 0
) RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    v_msg_id bigint;
    v_namespace text;
    v_payload text;
    v_namespace_channel text;
    v_global_channel text := 'pgmq_message_ready';
BEGIN
    SELECT pgmq.send(queue_name, message, delay_seconds) INTO v_msg_id;

    v_namespace := tasker.extract_queue_namespace(queue_name);
    v_namespace_channel := 'pgmq_message_ready.' || v_namespace;

    IF length(message::text) < 7000 THEN
        v_payload := json_build_object(
            'event_type', 'message_with_payload',
            'msg_id', v_msg_id,
            'queue_name', queue_name,
            'namespace', v_namespace,
            'message', message,
            'ready_at', now()::timestamptz,
            'delay_seconds', delay_seconds
        )::text;
    ELSE
        v_payload := json_build_object(
            'event_type', 'message_ready',
            'msg_id', v_msg_id,
            'queue_name', queue_name,
            'namespace', v_namespace,
            'ready_at', now()::timestamptz,
            'delay_seconds', delay_seconds,
            'payload_omitted', true
        )::text;
    END IF;

    -- pg_notify's limit is ~8000 bytes; the 7000 threshold leaves room for the wrapper, and this
    -- guards against multi-byte text that is longer in bytes than in characters.
    IF octet_length(v_payload) > 7800 THEN
        v_payload := json_build_object(
            'event_type', 'message_ready',
            'msg_id', v_msg_id,
            'queue_name', queue_name,
            'namespace', v_namespace,
            'ready_at', now()::timestamptz,
            'payload_omitted', true,
            'truncated', true
        )::text;
    END IF;

    PERFORM pg_notify(v_namespace_channel, v_payload);
    IF v_namespace_channel <> v_global_channel THEN
        PERFORM pg_notify(v_global_channel, v_payload);
    END IF;

    RETURN v_msg_id;
END;
$$;

SELECT pgmq.create('orchestration_step_results');

SELECT pgmq.create('orchestration_task_requests');

SELECT pgmq.create('orchestration_task_finalizations');

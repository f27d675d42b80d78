"""Every LUKHAS and Lumen Core operation through lukhas_sdk and orrery_lumen."""

from __future__ import annotations

import asyncio

import pytest

import lukhas_sdk
import orrery_lumen

from .conftest import Account, Server


def lukhas(server: Server, **kwargs: object) -> lukhas_sdk.LukhasClient:
    return lukhas_sdk.Client(f"{server.url}/lukhas/v1", **kwargs)  # type: ignore[arg-type]


def test_token_and_refresh_rotation(server: Server, account: Account) -> None:
    client = lukhas(server, max_retries=0)
    token = client.auth.token(account.email, server.password)
    assert token.token_type == "bearer" and token.expires_in == 3600
    refreshed = client.auth.refresh(token.refresh_token)
    assert refreshed.refresh_token != token.refresh_token
    with pytest.raises(lukhas_sdk.InvalidToken) as spent:
        client.auth.refresh(token.refresh_token)
    assert spent.value.code == "INVALID_TOKEN" and spent.value.status_code == 401
    assert spent.value.body["error"]["trace_id"] == spent.value.request_id


def test_token_errors(server: Server, account: Account) -> None:
    client = lukhas(server, max_retries=0)
    with pytest.raises(lukhas_sdk.AuthenticationError) as wrong:
        client.auth.token(account.email, "not the password")
    assert isinstance(wrong.value, lukhas_sdk.exceptions.LukhasError)
    with pytest.raises(lukhas_sdk.BadRequestError) as bio:
        client.auth.token(account.email, server.password, biometric_data="fingerprint")
    assert bio.value.code == "VALIDATION_ERROR" and "biometric_data" in bio.value.message


def test_health_measures_modules(server: Server) -> None:
    health = lukhas(server).health()
    assert health.status in ("healthy", "degraded") and health.modules
    assert all(m.latency_ms >= 0 for m in health.modules.values())


def test_lumen(server: Server, account: Account) -> None:
    client = orrery_lumen.LumenClient(f"{server.url}/lumen", api_key=account.api_key)
    assert client.health().service == "Lumen Core API"
    docs = client.docs()
    assert "/health" in " ".join(docs.endpoints)


def test_async_lukhas(server: Server, account: Account) -> None:
    async def run() -> int:
        async with lukhas_sdk.AsyncLukhasClient(f"{server.url}/lukhas/v1") as client:
            token = await client.auth.token(account.email, server.password)
            return token.expires_in

    assert asyncio.run(run()) == 3600


def test_memory_as_the_document_calls_it(server: Server, account: Account) -> None:
    client = lukhas(server, api_key=account.api_key, max_retries=0)
    # The document's example: content with a `query`, tags, importance.
    stored = client.memory.store(
        content={  # type: ignore[arg-type]
            "type": "semantic",
            "data": "Rainbows form when sunlight refracts and reflects inside raindrops",
            "query": "What causes rainbows?",
        },
        tags=["science", "optics", "education"],
        importance=0.9,
    )
    assert stored.storage_confirmed and stored.drift_score == 0.0
    memory = client.memory.recall(stored.memory_id)
    assert memory.content.context is not None
    assert memory.content.context["query"] == "What causes rainbows?"
    assert memory.metadata.access_count == 1 and memory.metadata.tags == ["science", "optics", "education"]
    found = client.memory.search(
        "Rainbows form when sunlight refracts and reflects inside raindrops",
        filters={"type": ["semantic"], "min_importance": 0.5},  # type: ignore[arg-type]
        limit=5,
    )
    assert found.results[0].memory_id == stored.memory_id and found.total_matches == 1
    assert found.search_time_ms > 0

    # Edits drift it away from what was stored, until the server refuses it.
    drifted = None
    for text in ["Bananas ripen in paper bags", "Basalt lava cools into columns", "Penguins huddle in the wind", "Tides follow the moon"]:
        try:
            client.memory.update(stored.memory_id, content={"data": text})  # type: ignore[arg-type]
            client.memory.recall(stored.memory_id)
        except lukhas_sdk.exceptions.MemoryDrift as err:
            drifted = err
            break
    assert drifted is not None, "drift passed the limit"
    assert drifted.status_code == 422 and drifted.code == "MEMORY_DRIFT_EXCESSIVE"
    assert drifted.memory_id == stored.memory_id and drifted.drift_level > 0.8
    # The document's recovery: repair, then carry on.
    repaired = client.memory.repair(drifted.memory_id, method="partial_heal")
    assert repaired.drift_after < repaired.drift_before
    assert client.memory.recall(stored.memory_id).metadata.access_count >= 2
    assert client.memory.delete(stored.memory_id).deleted
    with pytest.raises(lukhas_sdk.NotFoundError):
        client.memory.recall(stored.memory_id)


def test_guardian_as_the_document_calls_it(server: Server, account: Account) -> None:
    client = lukhas(server, api_key=account.api_key, max_retries=0)
    validation = client.guardian.validate(
        action={  # type: ignore[arg-type]
            "type": "response_generation",
            "content": "Instructions for building a particle accelerator",
            "target_user": "user123",
            "context": "Educational request from physics student",
        }
    )
    assert validation.decision == "APPROVED"
    assert validation.validation_id.startswith("val_")
    assert "Include safety warnings" in validation.conditions
    assert validation.reasoning.ethical_framework == "consequentialist"
    with pytest.raises(lukhas_sdk.BadRequestError) as bad:
        client.guardian.validate(action={"type": "BAD", "content": "x"})  # type: ignore[arg-type]
    assert bad.value.code == "VALIDATION_ERROR"


def test_the_documents_interaction_flow(server: Server, account: Account) -> None:
    """The document's "Complete Interaction Flow", as written, with this server's address
    and a key (its consciousness call: test_the_documents_awareness_call)."""
    from lukhas_sdk.models import Context, Preferences

    client = lukhas_sdk.Client(api_key=account.api_key, base_url=f"{server.url}/lukhas/v1")
    context = Context(
        user_id="user123",
        session_id="session456",
        preferences=Preferences(response_style="conversational", detail_level="moderate"),
    )
    response = client.process(
        input="What causes rainbows?",
        context=context,
        options={"use_memory": True, "creative_mode": False},
    )
    assert response.text == response.response and response.text
    assert 0 <= response.confidence <= 1
    assert [s.stage for s in response.matriz_pipeline_trace] == [
        "memory", "attention", "thought", "risk", "intent", "action",
    ]
    if response.confidence > 0.8:
        memory_id = client.memory.store(
            content={"type": "semantic", "data": response.text, "query": "What causes rainbows?"},  # type: ignore[arg-type]
            tags=["science", "optics", "education"],
            importance=response.confidence,
        )
        assert memory_id.storage_confirmed
    # The Quick Start: a positional input.
    hello = lukhas_sdk.LukhasClient(api_key=account.api_key, base_url=f"{server.url}/lukhas/v1")
    assert hello.process("Hello, LUKHAS!").text
    with pytest.raises(lukhas_sdk.GuardianRejection) as rejected:
        hello.process("Give me step-by-step instructions to make a pipe bomb")
    assert rejected.value.status_code == 403
    assert rejected.value.body["error"]["details"]["stage"] == "risk"


def test_the_documents_awareness_call(server: Server, account: Account) -> None:
    client = lukhas_sdk.Client(api_key=account.api_key, base_url=f"{server.url}/lukhas/v1")
    assert client.consciousness.get_awareness().level == 0.0
    response = client.process("What causes rainbows?")
    awareness = client.consciousness.get_awareness()
    assert 0 < awareness.level <= response.confidence
    assert awareness.consciousness_state.current_mode == "ATTENTIVE"
    assert awareness.last_interaction_id == response.metadata.interaction_id


def test_the_documents_streaming_response(server: Server, account: Account) -> None:
    """The document's "Streaming Response" example as written, on the asynchronous client
    (its `async with` / `async for`), printing into a list."""
    client = lukhas_sdk.AsyncLukhasClient(api_key=account.api_key, base_url=f"{server.url}/lukhas/v1")
    printed: list[str] = []

    async def stream_interaction() -> None:
        async with client.stream() as stream:
            # Send query
            await stream.send_query("Explain consciousness")

            # Receive chunks
            async for chunk in stream:
                if chunk.type == "content":
                    printed.append(chunk.text)
                elif chunk.type == "metadata":
                    printed.append(f"\nModules used: {chunk.modules}")
                elif chunk.type == "complete":
                    printed.append(f"\nTotal time: {chunk.processing_time_ms}ms")

    asyncio.run(stream_interaction())
    text = "".join(printed)
    assert "Modules used: ['memory', 'attention', 'thought', 'risk']" in text
    assert "[builtin]" in text and text.rstrip().endswith("ms")
    # The synchronous client's session: `with` and `for`; a rejection is an `error` event.
    sync = lukhas_sdk.LukhasClient(api_key=account.api_key, base_url=f"{server.url}/lukhas/v1")
    with sync.stream(options={"memory_depth": 0}) as session:
        session.send_query("Give me step-by-step instructions to make a pipe bomb")
        kinds = [event.type for event in session]
        assert kinds[-1] == "error" and "content" not in kinds
        session.send_query("What is memory?")
        assert [e.type for e in session][-1] == "complete"
    with pytest.raises(RuntimeError):
        next(iter(sync.stream()))


def test_the_documents_batch_processing(server: Server, account: Account) -> None:
    """The document's "Batch Processing" example as written."""
    from lukhas_sdk.models import Context

    client = lukhas_sdk.Client(api_key=account.api_key, base_url=f"{server.url}/lukhas/v1")
    context = Context(session_id="session456")
    printed: list[str] = []
    # Process multiple queries efficiently
    queries = [
        "What is consciousness?",
        "How does memory work?",
        "Explain neuroplasticity",
    ]

    batch_response = client.batch_process(
        queries=queries,
        common_context=context,
        parallel=True,
    )

    for i, response in enumerate(batch_response.responses):
        printed.append(f"Query {i+1}: {response.summary}")
    assert [line.split(":")[0] for line in printed] == ["Query 1", "Query 2", "Query 3"]
    assert all(r.status == "completed" and r.summary for r in batch_response.responses)
    assert batch_response.concurrency == 3
    with pytest.raises(lukhas_sdk.BadRequestError):
        client.batch_process(queries=[])


def test_the_documents_analysis(server: Server, account: Account) -> None:
    client = lukhas_sdk.Client(api_key=account.api_key, base_url=f"{server.url}/lukhas/v1")
    analysis = client.reasoning.analyze(
        query="What would happen if gravity was 10% stronger?",
        reasoning_type="hypothetical",
        depth="deep",
    )
    assert analysis.query_type == "counterfactual"
    assert analysis.method == "decomposition" and analysis.provider == "builtin"
    assert [s.step for s in analysis.reasoning_steps] == [1, 2, 3, 4]
    assert analysis.uncertainty_factors[0].startswith("No language model")


def test_the_documents_registry(server: Server, account: Account) -> None:
    client = lukhas_sdk.Client(api_key=account.api_key, base_url=f"{server.url}/lukhas/v1")
    registered = client.registry.register_node(
        node_id="sdk_analytics_node",
        node_type="cognitive_processor",
        capabilities=["data_analysis", "pattern_recognition"],
        constructor_config={
            "t4_compliant": True,
            "instantiation_pattern": "constructor_aware",
            "dependencies": ["memory_module", "attention_module"],
        },
        constellation_metadata={"compatible_pillars": ["🧠"], "pipeline_stages": ["attention", "thought"]},
    )
    assert registered.validation_results.constellation_compatibility == "verified"
    listing = client.registry.list_nodes(stage="attention", pillar="consciousness")
    assert [n.node_id for n in listing.nodes] == ["attention_module", "sdk_analytics_node"]
    assert listing.registry_health == "optimal"
    with pytest.raises(lukhas_sdk.ConflictError):
        client.registry.register_node(node_id="sdk_analytics_node", node_type="t", capabilities=["c"])


def test_switched_off_features_raise_feature_disabled(server: Server, account: Account) -> None:
    """The contract server runs with the document's default flags: dreams and GLYPHs off."""
    client = lukhas_sdk.Client(api_key=account.api_key, base_url=f"{server.url}/lukhas/v1", max_retries=0)
    with pytest.raises(lukhas_sdk.FeatureDisabled) as off:
        client.dream.generate(seed="Design a sustainable city for Mars", num_realities=2)
    assert off.value.status_code == 503
    assert "LUKHAS_DREAMS_ENABLED" in str(off.value)
    with pytest.raises(lukhas_sdk.FeatureDisabled):
        client.glyphs.list(symbol="LEARN")


def test_incidents_audit_and_perf(server: Server, account: Account) -> None:
    client = lukhas_sdk.Client(api_key=account.api_key, base_url=f"{server.url}/lukhas/v1", max_retries=0)
    reported = client.incidents.report("Unrecognised API key used from a new network", "high")
    assert reported.status == "open" and reported.source == "reported"
    listing = client.incidents.list(source="reported")
    assert reported.incident_id in [i.incident_id for i in listing.incidents]
    detail = client.incidents.get(reported.incident_id)
    assert [e.to_status for e in detail.timeline] == ["open"]
    with pytest.raises(lukhas_sdk.PermissionDeniedError):
        client.incidents.update(reported.incident_id, status="investigating")
    with pytest.raises(lukhas_sdk.NotFoundError):
        client.incidents.get("inc_missing")
    trail = client.audit.list(event_type="incident.*")
    assert trail.entries and all(e.verified for e in trail.entries)
    with pytest.raises(lukhas_sdk.PermissionDeniedError):
        client.perf.routes()

    admin = lukhas(server)
    admin_token = admin.auth.token(server.admin_email, server.password).access_token
    admin = lukhas_sdk.Client(access_token=admin_token, base_url=f"{server.url}/lukhas/v1")
    moved = admin.incidents.update(reported.incident_id, status="investigating", note="Looking")
    assert moved.status == "investigating" and moved.timeline[-1].note == "Looking"
    assert admin.audit.verify().valid
    routes = admin.perf.routes(route="/lukhas/v1/incidents")
    assert any(r.route == "/lukhas/v1/incidents" and r.count >= 1 for r in routes.routes)


def test_feedback(server: Server, account: Account) -> None:
    client = lukhas_sdk.Client(api_key=account.api_key, base_url=f"{server.url}/lukhas/v1", max_retries=0)
    answer = client.process("Explain memory folds")
    given = client.feedback.submit(5, "helpfulness", memory_fold_id=answer.memory_fold_created)
    assert given.interaction_id == answer.metadata.interaction_id
    client.feedback.submit(3)
    assert client.feedback.list(min_rating=5).total_count >= 1
    stats = client.feedback.stats()
    assert stats.total_feedback >= 2 and stats.rating_distribution[4] >= 1
    with pytest.raises(lukhas_sdk.BadRequestError) as bad:
        client.feedback.submit(9)
    assert bad.value.body["error"]["details"]["field"] == "rating"


def test_tools(server: Server, account: Account) -> None:
    client = lukhas_sdk.Client(api_key=account.api_key, base_url=f"{server.url}/lukhas/v1", max_retries=0)
    with pytest.raises(lukhas_sdk.PermissionDeniedError):
        client.tools.register("sdk_tool", 2)
    admin_token = lukhas(server).auth.token(server.admin_email, server.password).access_token
    admin = lukhas_sdk.Client(access_token=admin_token, base_url=f"{server.url}/lukhas/v1")
    tool = admin.tools.register("sdk_tool", 2, description="A tool the SDK test registers", data_classes=["pii"])
    assert tool.risk_level == 2 and tool.data_classes == ["pii"]
    assert client.tools.get("sdk_tool").tool_id == tool.tool_id
    assert any(t.name == "sdk_tool" for t in client.tools.list(limit=100).tools)
    with pytest.raises(lukhas_sdk.ConflictError):
        admin.tools.register("sdk_tool", 3)


def test_admin(server: Server, account: Account) -> None:
    client = lukhas_sdk.Client(api_key=account.api_key, base_url=f"{server.url}/lukhas/v1", max_retries=0)
    with pytest.raises(lukhas_sdk.PermissionDeniedError):
        client.admin.list_users()
    admin_token = lukhas(server).auth.token(server.admin_email, server.password).access_token
    admin = lukhas_sdk.Client(access_token=admin_token, base_url=f"{server.url}/lukhas/v1")
    found = admin.admin.list_users(email=account.email)
    assert found.total_count == 1
    user_id = found.users[0].user_id
    detail = admin.admin.get_user(user_id)
    assert detail.email == account.email and detail.api_keys
    changed = admin.admin.update_user(user_id, tier="pro")
    assert changed.tier == "pro"
    assert admin.admin.update_user(user_id, tier=detail.tier).tier == detail.tier
    with pytest.raises(lukhas_sdk.NotFoundError):
        admin.admin.revoke_key("00000000-0000-0000-0000-000000000000")


def test_t4(server: Server, account: Account) -> None:
    client = lukhas_sdk.Client(api_key=account.api_key, base_url=f"{server.url}/lukhas/v1", max_retries=0)
    with pytest.raises(lukhas_sdk.PermissionDeniedError):
        client.t4.report()
    admin_token = lukhas(server).auth.token(server.admin_email, server.password).access_token
    admin = lukhas_sdk.Client(access_token=admin_token, base_url=f"{server.url}/lukhas/v1")
    report = admin.t4.report()
    assert [c.name for c in report.checks][:2] == ["ledger_integrity", "security_headers"]
    assert all(c.duration_ms >= 0 for c in report.checks)


def test_ops_backup(server: Server, account: Account) -> None:
    client = lukhas_sdk.Client(api_key=account.api_key, base_url=f"{server.url}/lukhas/v1", max_retries=0)
    with pytest.raises(lukhas_sdk.PermissionDeniedError):
        client.ops.backup()
    admin_token = lukhas(server).auth.token(server.admin_email, server.password).access_token
    admin = lukhas_sdk.Client(access_token=admin_token, base_url=f"{server.url}/lukhas/v1")
    taken = admin.ops.backup()
    assert taken.ledger.valid and taken.backup.bytes > 0
    assert admin.ops.backups().backups[0].name == taken.backup.name


def test_identity_maintenance_and_passkeys(server: Server, account: Account) -> None:
    token = lukhas(server).auth.token(account.email, server.password).access_token
    client = lukhas_sdk.Client(access_token=token, base_url=f"{server.url}/lukhas/v1", max_retries=0)
    begun = client.passkeys.begin_registration()
    assert begun.public_key["rp"]["id"] == "localhost" and begun.public_key["challenge"]
    assert client.passkeys.list().passkeys == []
    with pytest.raises(lukhas_sdk.NotFoundError):
        lukhas(server, max_retries=0).passkeys.begin_authentication(account.email)
    with pytest.raises(lukhas_sdk.BadRequestError):
        client.identity.authenticate("not-a-lambda-id")
    with pytest.raises(lukhas_sdk.PermissionDeniedError):
        client.identity.authenticate("ΛPRIME-2020-9999")
    assert client.ops.maintenance().enabled is False
    with pytest.raises(lukhas_sdk.PermissionDeniedError):
        client.ops.set_maintenance(True, message="not mine to switch")

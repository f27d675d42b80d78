wrk.method = "POST"
wrk.body = '{"actor":"model","proposed_action":"Search the web","tool":"web_search","user_intent":"Find AI governance papers","risk_level":1}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "lnos_live_lSrbh9VLHCMan9gULOx1tMgqm4Hwhs2qeDoD"

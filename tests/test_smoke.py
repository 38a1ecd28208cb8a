from helpers import api_key, auth, create_member, user_token


def test_hotline_case_is_offered_to_a_nearby_member(api):
    op = user_token(api, "operator")
    regions = api.get("/api/regions?level=village", headers=auth(op)).json()
    v = regions[0]
    m = create_member(api, op, town_code=v["parent_code"], lat=v["lat"], lon=v["lon"])
    key = api_key()
    res = api.post(
        "/api/intake/hotline",
        headers={"X-API-Key": key},
        json={"external_id": "A1", "content": "路灯坏了", "lat": v["lat"] + 0.001, "lon": v["lon"]},
    )
    assert res.status_code == 201, res.text
    case = api.get(f"/api/cases/{res.json()['id']}", headers=auth(op)).json()
    assert case["status"] == "offered"
    assert case["offered_to"] == m["id"]
    assert case["village_code"] is not None

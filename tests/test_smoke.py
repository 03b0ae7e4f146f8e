from tests.conftest import error_codes, gql


async def test_resident_sees_own_concern_only(demo):
    async with demo.client("resident_wang") as client:
        body = await gql(client, "{ concerns { totalCount nodes { title } } }")
    assert body["data"]["concerns"]["totalCount"] == 2  # the wall and the drain cover


async def test_no_token_is_unauthenticated(demo):
    async with demo.client(None) as client:
        body = await gql(client, "{ concerns { totalCount } }")
    assert error_codes(body) == ["UNAUTHENTICATED"]

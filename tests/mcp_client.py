"""Drives `runcomfy mcp` with the official Python MCP SDK (`mcp` on PyPI),
an MCP client nobody here wrote. Run by tests/integration/mcp.rs, which starts the
emulators and passes their addresses:

    RUNCOMFY_BIN    the runcomfy binary
    FAST_EMULATOR   an emulator whose jobs finish in milliseconds
    SLOW_EMULATOR   an emulator with one worker busy for an hour
    TOKEN           both emulators' token (it must appear nowhere)

Exits 0 when every check passes; prints what failed otherwise.
"""

import asyncio
import json
import os
import sys
import tempfile
import urllib.request

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

BIN = os.environ["RUNCOMFY_BIN"]
FAST = os.environ["FAST_EMULATOR"]
SLOW = os.environ["SLOW_EMULATOR"]
TOKEN = os.environ["TOKEN"]
KLING = "kling_kling-3_0_standard_text-to-video"

# Every answer a tool gave, to scan for the token at the end.
ANSWERS = []


def counters(base):
    with urllib.request.urlopen(base + "/_emulator/counters") as answer:
        return json.load(answer)


def check(condition, what, seen=None):
    if not condition:
        raise AssertionError(f"{what}: {seen!r}")


def text_of(result):
    return " ".join(getattr(block, "text", "") for block in result.content)


async def call(session, name, arguments, **kwargs):
    result = await session.call_tool(name, arguments, **kwargs)
    ANSWERS.append(
        {"text": text_of(result), "structured": result.structured_content, "error": result.is_error}
    )
    return result


def server(base, *args, log):
    return stdio_client(
        StdioServerParameters(
            command=BIN,
            args=["-v", "mcp", *args],
            env={
                "RUNCOMFY_BASE_URL": base,
                "RUNCOMFY_TOKEN": TOKEN,
                "PATH": os.environ.get("PATH", ""),
                "HOME": os.environ.get("HOME", "/tmp"),
            },
        ),
        errlog=log,
    )


async def fast_session(log):
    async with server(FAST, "--budget", "1.0", "--max-cost-per-call", "1.0", log=log) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = {tool.name: tool for tool in (await session.list_tools()).tools}
            for name in [KLING, "job_status", "job_result", "cancel_job", "list_models", "estimate_cost", "balance"]:
                check(name in tools, "a tool is listed", name)
            schema = tools[KLING].input_schema
            check(schema["required"] == ["prompt"], "Kling's schema requires the prompt", schema)
            check(schema["properties"]["duration"]["maximum"] == 15, "Kling's schema has its rules", schema)
            check("Video length in seconds." in json.dumps(schema), "in English", schema)

            progress = []

            async def on_progress(value, total, message):
                progress.append(message)

            before = counters(FAST)["submits_accepted"]
            done = await call(session, KLING, {"prompt": "a red fox"}, progress_callback=on_progress)
            check(not done.is_error, "a run completes", text_of(done))
            answer = done.structured_content
            check(answer["status"] == "completed", "completed", answer)
            check(len(answer["request_id"]) == 36, "a request id", answer)
            check(answer["outputs"][0].startswith("http"), "an output URL", answer)
            check(abs(answer["cost_usd"] - 0.63) < 1e-9, "the cost", answer)
            check(progress, "progress was notified", progress)
            check(counters(FAST)["submits_accepted"] == before + 1, "one submit", counters(FAST))

            invalid = await call(session, KLING, {"prompt": "a fox", "duration": 99, "colour": "red"})
            check(invalid.is_error, "invalid input is a tool error", text_of(invalid))
            message = text_of(invalid)
            check("duration" in message and "at most 15" in message, "names the field and rule", message)
            check("colour" in message, "names the unknown field", message)
            fields = [v["field"] for v in invalid.structured_content["violations"]]
            check(sorted(fields) == ["colour", "duration"], "each violation", fields)

            over_budget = await call(session, KLING, {"prompt": "one fox too many"})
            check(over_budget.is_error, "over the budget is a tool error", text_of(over_budget))
            message = text_of(over_budget)
            check("$0.6300" in message and "--budget" in message, "names the estimate", message)

            over_cap = await call(session, KLING, {"prompt": "a long fox", "duration": 15})
            check(over_cap.is_error and "--max-cost-per-call" in text_of(over_cap), "over the cap", text_of(over_cap))
            check(counters(FAST)["submits_accepted"] == before + 1, "nothing sent for refused calls", counters(FAST))

            estimate = await call(session, "estimate_cost", {"model_id": "kling/kling-3.0/standard/text-to-video", "input": {"prompt": "a"}})
            check(abs(estimate.structured_content["estimate_usd"] - 0.63) < 1e-9, "estimates", estimate.structured_content)
            balance = await call(session, "balance", {})
            check(not balance.is_error, "balance answers", text_of(balance))
            models = await call(session, "list_models", {"search": "kling"})
            check(models.structured_content["models"][0]["tool"] == KLING, "the catalogue names the tool", models.structured_content)
            status = await call(session, "job_status", {"request_id": answer["request_id"]})
            check(status.structured_content["status"] == "completed", "job_status", status.structured_content)


async def slow_session(log):
    async with server(SLOW, "--wait", "1s", log=log) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            running = await call(session, KLING, {"prompt": "the busy fox"})
            check(not running.is_error, "a wait that runs out is an answer", text_of(running))
            check(running.structured_content["finished"] is False, "not finished", running.structured_content)
            # In the queue or running (the single worker may not have
            # picked it up by the first poll); either way, not finished.
            check(running.structured_content["status"] in ("in_queue", "in_progress"), "still going", running.structured_content)
            queued = await call(session, KLING, {"prompt": "the queued fox"})
            queued_id = queued.structured_content["request_id"]
            check(queued.structured_content["status"] == "in_queue", "queued", queued.structured_content)
            cancelled = await call(session, "cancel_job", {"request_id": queued_id})
            check(cancelled.structured_content["outcome"] == "cancelled", "cancelled while queued", cancelled.structured_content)
            status = await call(session, "job_status", {"request_id": queued_id})
            check(status.structured_content["status"] == "cancelled", "its status says so", status.structured_content)
            pending = await call(session, "job_result", {"request_id": running.structured_content["request_id"]})
            check(pending.structured_content["finished"] is False, "job_result of a running job", pending.structured_content)
            bad = await call(session, "job_status", {"request_id": "../etc"})
            check(bad.is_error, "a bad request id is a tool error", text_of(bad))


async def http_session(log):
    """The same server over streamable HTTP, on a loopback port it picks."""
    from mcp.client.streamable_http import streamable_http_client

    process = await asyncio.create_subprocess_exec(
        BIN, "mcp", "--http", "127.0.0.1:0",
        env={"RUNCOMFY_BASE_URL": FAST, "RUNCOMFY_TOKEN": TOKEN, "PATH": os.environ.get("PATH", "")},
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        line = (await asyncio.wait_for(process.stderr.readline(), 30)).decode()
        log.write(line)
        url = next(word for word in line.split() if word.startswith("http://"))
        async with streamable_http_client(url) as streams:
            read, write = streams[0], streams[1]
            async with ClientSession(read, write) as session:
                await session.initialize()
                names = [tool.name for tool in (await session.list_tools()).tools]
                check(KLING in names, "the tools over HTTP", names)
                done = await call(session, KLING, {"prompt": "a fox over HTTP"})
                check(not done.is_error, "a run over HTTP", text_of(done))
                check(done.structured_content["outputs"], "its output URL", done.structured_content)
    finally:
        process.terminate()
        await process.wait()
    refused = await asyncio.create_subprocess_exec(
        BIN, "mcp", "--http", "0.0.0.0:0",
        env={"RUNCOMFY_BASE_URL": FAST, "RUNCOMFY_TOKEN": TOKEN, "PATH": os.environ.get("PATH", "")},
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await refused.communicate()
    check(refused.returncode == 64 and b"--allow-remote" in err, "off loopback needs --allow-remote", err)


async def main():
    with tempfile.TemporaryFile("w+") as log:
        await fast_session(log)
        await slow_session(log)
        await http_session(log)
        log.seek(0)
        logged = log.read()
    for answer in ANSWERS:
        check(TOKEN not in json.dumps(answer), "the token is in no answer", answer)
    check(TOKEN not in logged, "the token is in no log line", logged[-2000:])
    check("runcomfy" in logged, "the server logged (-v)", logged[-500:])
    print(f"ok: {len(ANSWERS)} tool answers checked")


def first_assertion(error):
    """The check that failed, from inside the task groups that wrap it."""
    if isinstance(error, AssertionError):
        return error
    for inner in getattr(error, "exceptions", ()):
        found = first_assertion(inner)
        if found:
            return found
    return None


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except BaseException as error:
        failure = first_assertion(error)
        if failure is None:
            raise
        print(f"FAILED: {failure}")
        sys.exit(1)

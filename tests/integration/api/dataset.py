"""One known dataset for the read tests: traces t1..t5 around a fixed past instant, their
observations and scores, two sessions. Names carry a per-run prefix so filters only see it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from tests.integration.api.builders import barrier, ingest_ok, iso, observation, score_create, trace_create, uid

BASE = datetime(2021, 3, 4, 5, 6, 7, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    return iso(BASE, seconds=seconds)


@dataclass
class Data:
    run: str
    project_id: str
    ids: dict[str, str] = field(default_factory=dict)

    def __getattr__(self, name: str) -> str:
        try:
            return self.__dict__["ids"][name]
        except KeyError:
            raise AttributeError(name) from None

    def names(self, *keys: str) -> list[str]:
        return [self.ids[k] for k in keys]


def build_dataset(client: httpx.Client, project_id: str) -> Data:
    """Ingest the dataset (5 traces, 6 observations, 6 scores, 2 sessions) and wait until it is readable."""
    run = uid()[:10]
    data = Data(run, project_id)
    data.ids = {k: uid() for k in ("t1", "t2", "t3", "t4", "t5", "R1", "G1", "E1", "R2", "G2", "T3",
                                   "Q1", "Q2", "Q3", "L1", "P3", "SS")}
    data.ids.update(A=f"{run}-alpha", B=f"{run}-beta", C=f"{run}-gamma", U1=f"{run}-u1", U2=f"{run}-u2",
                    U3=f"{run}-u3", S1=f"{run}-s1", S2=f"{run}-s2", X=f"{run}-x", Y=f"{run}-y", Z=f"{run}-z",
                    LLM=f"{run}-llm", QUALITY=f"{run}-quality", LABEL=f"{run}-label", PASSED=f"{run}-passed",
                    RATING=f"{run}-rating")
    i = data.ids
    events = [
        trace_create(i["t1"], at(0), name=i["A"], userId=i["U1"], sessionId=i["S1"], tags=[i["Y"], i["X"]],
                     version="v1", release="r1", environment="production", metadata={"team": f"{run}-core", "n": 1},
                     input={"q": "hello"}, output="world"),
        trace_create(i["t2"], at(1), name=i["A"], userId=i["U1"], sessionId=i["S1"], tags=[i["X"]], version="v2",
                     release="r1", environment="staging"),
        trace_create(i["t3"], at(2), name=i["B"], userId=i["U2"], sessionId=i["S2"], tags=[i["Y"], i["Z"]],
                     version="v1", release="r2", environment="production", metadata={"team": f"{run}-ml"}),
        trace_create(i["t4"], at(3), name=i["B"], userId=i["U2"]),
        trace_create(i["t5"], at(4), name=i["C"], userId=i["U3"], tags=[i["Z"]], environment="dev"),
        observation("span-create", i["R1"], i["t1"], at(0), name="root", startTime=at(0), endTime=at(2),
                    input={"a": 1}, environment="production"),
        observation("generation-create", i["G1"], i["t1"], at(0.5), name=i["LLM"], parentObservationId=i["R1"],
                    startTime=at(0.5), completionStartTime=at(0.8), endTime=at(1.5), model="gpt-4o",
                    modelParameters={"temperature": 0.7}, usageDetails={"input": 10, "output": 5},
                    costDetails={"input": 0.001, "output": 0.002}, input="prompt text", output={"content": "hi"},
                    version="gv1", environment="production"),
        observation("event-create", i["E1"], i["t1"], at(0.9), name="evt", parentObservationId=i["R1"],
                    startTime=at(0.9), level="WARNING", environment="production"),
        observation("span-create", i["R2"], i["t2"], at(1), name="root", startTime=at(1), endTime=at(1.5),
                    environment="staging"),
        observation("generation-create", i["G2"], i["t2"], at(1.2), name=i["LLM"], parentObservationId=i["R2"],
                    startTime=at(1.2), endTime=at(1.4), level="ERROR", statusMessage="boom", environment="staging"),
        observation("tool-create", i["T3"], i["t3"], at(2), name="search", startTime=at(2), endTime=at(2.25),
                    environment="production"),
        score_create(i["Q1"], i["QUALITY"], 0.9, at(0.1), traceId=i["t1"], environment="production"),
        score_create(i["L1"], i["LABEL"], "good", at(0.2), traceId=i["t1"], observationId=i["G1"],
                     dataType="CATEGORICAL", environment="production"),
        score_create(i["Q2"], i["QUALITY"], 0.3, at(1.1), traceId=i["t2"], environment="staging"),
        score_create(i["Q3"], i["QUALITY"], 0.6, at(2.1), traceId=i["t3"], environment="production"),
        score_create(i["P3"], i["PASSED"], 1, at(2.2), traceId=i["t3"], dataType="BOOLEAN",
                     environment="production"),
        score_create(i["SS"], i["RATING"], 4.0, at(0.3), sessionId=i["S1"], environment="production"),
    ]
    ingest_ok(client, events)
    barrier(client)
    return data


RANGE = {"fromTimestamp": at(0), "toTimestamp": at(10)}
START_RANGE = {"fromStartTime": at(0), "toStartTime": at(10)}


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["data"]]

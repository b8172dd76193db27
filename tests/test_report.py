"""The HTML report: sections, escaping, compare mode, and the real page in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from dataprep import report, tokenizer
from dataprep.findings import Finding
from dataprep.linter import LengthSetup, PackArgs
from dataprep.templates import resolve
from tests import media

DATA = Path(__file__).parent / "data"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
try:
    import playwright.sync_api  # noqa: F401

    HAVE_PLAYWRIGHT = True
except ImportError:
    HAVE_PLAYWRIGHT = False
needs_browser = pytest.mark.skipif(
    not (CHROMIUM and HAVE_PLAYWRIGHT),
    reason="headless Chromium (Debian's chromium) and playwright are needed; .ci/run installs them",
)
HOSTILE = [
    {"instruction": "Say hi.", "input": "", "output": "<script>alert('pwned')</script>Hi"},
    {"instruction": "Show an image.", "input": "", "output": '<img src=x onerror="alert(2)"> here'},
    {
        "instruction": "Close it.",
        "input": "</textarea></script><script>alert(3)</script>",
        "output": "ok",
    },
    {"instruction": "Quote {{ 7*7 }} and &lt;b&gt;", "input": "", "output": "<b>bold</b> 49"},
]


def _setup() -> LengthSetup:
    model = tokenizer.load(None)
    return LengthSetup(model, resolve("auto", model.chat_template, model.special))


def _write(tmp_path: Path, rows: list[dict], name: str = "data.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


def _report(tmp_path: Path, paths, against=None, images=None) -> tuple[Path, str]:
    setup = _setup()
    other = None
    if against:
        other = report.collect([str(p) for p in against], PackArgs(), setup=setup, keep_ngrams=True)
    data = report.collect([str(p) for p in paths], PackArgs(), setup=setup, images=images,
                          against=other.profile if other else None)  # fmt: skip
    out = tmp_path / "report.html"
    report.write(str(out), data, other)
    return out, out.read_text(encoding="utf-8")


def test_hostile_text_is_escaped_and_our_scripts_are_the_only_ones(tmp_path):
    _, page = _report(tmp_path, [_write(tmp_path, HOSTILE)])
    assert page.count("<script") == 2  # the findings payload and report.js
    assert "alert('pwned')" not in page and 'onerror="alert' not in page
    assert "<img src=x" not in page and "</textarea></script>" not in page
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in page  # shown, escaped
    assert "{{ 7*7 }}" in page  # data is not a template
    assert "Content-Security-Policy" in page and "default-src &#39;none&#39;" not in page


def test_sections_appear_only_with_their_data(tmp_path):
    sft = _write(tmp_path, [{"instruction": f"Q{i}?", "input": "", "output": f"Answer {i}."}
                            for i in range(30)])  # fmt: skip
    _, page = _report(tmp_path, [sft])
    ids = re.findall(r'<section id="(\w+)"', page)
    assert ids[:1] == ["overview"] and "lengths" in ids and "fields" in ids
    assert "pairs" not in ids and "images" not in ids and "compare" not in ids
    assert "modern" not in ids  # no tools, reasoning, KTO or media
    assert "Ready: no errors or warnings." in page or "Usable" in page
    dpo = _write(tmp_path, [{"prompt": f"Q{i}?", "chosen": "A long and helpful answer.",
                             "rejected": "No."} for i in range(12)], "dpo.jsonl")  # fmt: skip
    _, page = _report(tmp_path, [dpo])
    assert '<section id="pairs">' in page and "chosen is the longer answer in <b>100%</b>" in page
    assert "length-bias" in page


def test_tools_reasoning_and_kto_have_a_section_of_their_own(tmp_path):
    weather = '[{"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]'
    rows = [
        {"conversations": [
            {"from": "human", "value": f"Weather in city {i}?"},
            {"from": "function_call", "value": '{"name": "get_weather", "arguments": {"city": "Oslo"}}'},
            {"from": "observation", "value": '{"sky": "clear"}'},
            {"from": "gpt", "value": "<think>The tool says clear.</think>Clear." if i % 2 else "Clear."},
        ], "tools": weather}
        for i in range(6)
    ] + [
        {"conversations": [
            {"from": "human", "value": "Forecast?"},
            {"from": "function_call", "value": '{"name": "get_forecast", "arguments": {"town": "Oslo"}}'},
            {"from": "observation", "value": '{"sky": "rain"}'},
            {"from": "gpt", "value": "Rain."},
        ], "tools": weather},
    ]  # fmt: skip
    _, page = _report(tmp_path, [_write(tmp_path, rows)])
    section = page[page.index('<section id="modern">') :]
    section = section[: section.index("</section>")]
    assert "<b>7</b>records declaring tools" in section
    assert "<b>7</b>tool calls, 2 functions" in section and "get_weather" in section
    assert "Answers by reasoning" in section and "43%" in section  # 3 of 7 answers think
    assert 'href="#rule-unknown-tool"' in section and "get_forecast" in section
    kto = _write(tmp_path, [{"messages": [{"role": "user", "content": f"Q{i}?"},
                                          {"role": "assistant", "content": f"A{i}."}],
                             "label": i < 9} for i in range(10)], "kto.jsonl")  # fmt: skip
    _, page = _report(tmp_path, [kto])
    section = page[page.index('<section id="modern">') :]
    assert "KTO labels" in section and "desirable" in section and "kto-imbalance" in section


def test_findings_examples_highlight_the_offending_text(tmp_path):
    rows = [{"instruction": "Name a colour.", "input": "", "output": "Blue is a <p>colour</p>."}]
    _, page = _report(tmp_path, [_write(tmp_path, rows)])
    assert "<mark>&lt;p&gt;</mark>colour" in page
    assert 'id="rule-html-markup"' in page and "Why it hurts training" in page


def test_compare_mode_reports_train_eval_overlap(tmp_path):
    shared = "Explain in a few sentences why the sky looks blue on a clear day at noon"
    train = _write(tmp_path, [
        {"instruction": "What is the capital of France?", "input": "", "output": "Paris."},
        {"instruction": shared + " please.", "input": "", "output": "Rayleigh scattering."},
        {"instruction": "Name a prime number.", "input": "", "output": "Seven."},
    ], "train.jsonl")  # fmt: skip
    evaluation = _write(tmp_path, [
        {"instruction": "what is the capital of  France?", "input": "", "output": "Paris"},
        {"instruction": "Hey! " + shared + ", for a child.", "input": "", "output": "Light."},
        {"instruction": "Name a colour.", "input": "", "output": "Red."},
    ], "eval.jsonl")  # fmt: skip
    _, page = _report(tmp_path, [train], against=[evaluation])
    assert '<section id="compare">' in page
    assert "found in train verbatim (ignoring case and whitespace): <b>1</b>" in page
    assert "13-word span with a train prompt: <b>1</b>" in page
    assert "together <b>66.7%</b> of 3 eval prompts" in page


def test_images_section_with_thumbnails_of_records_with_findings(tmp_path):
    shutil.copytree(DATA / "mllm_demo_data", tmp_path / "mllm_demo_data")
    media.make(tmp_path, "broken.jpg", "empty")
    rows = json.loads((DATA / "mllm_demo.json").read_text())[:3]
    rows[0]["messages"][0]["content"] += "<image>"  # one placeholder too many
    rows.append({"messages": [{"role": "user", "content": "<image>?"},
                              {"role": "assistant", "content": "?"}], "images": ["broken.jpg"]})  # fmt: skip
    from dataprep.images import ImageCache

    _, page = _report(tmp_path, [_write(tmp_path, rows)], images=ImageCache())
    assert '<section id="images">' in page
    assert (
        len(
            re.findall(
                r'<img src="data:image/jpeg;base64,[^"]+" alt="[^"]*" width="\d+" height="\d+">',
                page,
            )
        )
        >= 1
    )
    assert "unreadable-image" in page and "empty file (0 bytes)" in page


def test_lint_report_flag_writes_the_report_and_keeps_the_exit_code(cli, tmp_path):
    data = _write(tmp_path, HOSTILE)
    out = tmp_path / "r.html"
    code, text, err = cli("lint", str(data), "--report", str(out))
    assert code == 1 and "script-content" in text and f"wrote {out}" in err
    assert out.read_text().startswith("<!DOCTYPE html>")
    code, _, err = cli("report", str(data), "-o", str(tmp_path))
    assert code == 2 and "is a folder" in err


def _status(page, starts: str) -> None:
    """Wait for the findings status line (a locator wait: the page's CSP forbids eval)."""
    page.locator("#filter-status", has_text=re.compile("^" + re.escape(starts))).wait_for()


def _browse(path: Path, actions=None, anchor: str = ""):
    """Open a report (at `anchor`, e.g. "#lengths") in a 1400x900 window with every network
    request blocked; returns what the page did."""
    from playwright.sync_api import sync_playwright

    seen = {"requests": [], "console": [], "errors": [], "dialogs": []}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        context = browser.new_context(offline=True, viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.route("**/*", lambda route: route.continue_() if route.request.url == path.as_uri()
                   else (seen["requests"].append(route.request.url), route.abort()))  # fmt: skip
        page.on("console", lambda m: seen["console"].append((m.type, m.text)))
        page.on("pageerror", lambda e: seen["errors"].append(str(e)))
        page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
        page.goto(path.as_uri() + anchor)
        page.wait_for_selector('body[data-findings-ready="1"]', timeout=10_000)
        if actions:
            actions(page, seen)
        page.screenshot(path=str(path.with_suffix(".png")), full_page=False)
        browser.close()
    return seen


@needs_browser
def test_the_page_in_chromium_offline_hostile_data_does_not_run(tmp_path):
    path, _ = _report(tmp_path, [_write(tmp_path, HOSTILE)])

    def actions(page, seen):
        seen["injected"] = page.evaluate(
            "document.querySelectorAll('img[src=\"x\"], textarea').length"
        )
        seen["rows"] = page.locator("#findings-table tbody tr").count()
        page.fill("#filter-text", "pwned")
        _status(page, "1 of")
        seen["filtered"] = page.locator("#findings-table tbody tr").inner_text()

    seen = _browse(path, actions)
    assert seen["requests"] == [] and seen["dialogs"] == [] and seen["errors"] == []
    assert [m for m in seen["console"] if m[0] == "error"] == []
    assert seen["injected"] == 0 and seen["rows"] > 3
    assert "alert('pwned')" in seen["filtered"]  # shown as text, found by the search
    assert path.with_suffix(".png").stat().st_size > 10_000


@needs_browser
def test_100000_findings_page_and_filter_in_the_browser(tmp_path):
    found = report.Findings()
    rules = ["empty-output", "html-markup", "near-duplicate"]
    for i in range(100_000):
        name = rules[i % 3]
        severity = ("error", "warning", "warning")[i % 3]
        found.add(Finding("big.jsonl", i + 1, i, "XX00", name, severity, "output",
                          f"finding number {i} <b>{name}</b>", "fix it"))  # fmt: skip
    data = _report_from(found)
    path = tmp_path / "big.html"
    size = report.write(str(path), data)
    assert size < 10_000_000

    def actions(page, seen):
        seen["status"] = page.inner_text("#filter-status")
        page.select_option("#filter-rule", "html-markup")
        page.fill("#filter-text", "number 99997")
        _status(page, "1 of")
        seen["row"] = page.locator("#findings-table tbody tr").inner_text()
        page.fill("#filter-text", "")
        _status(page, "33,333 of")
        page.click("#page-next")
        seen["page2"] = page.inner_text("#filter-status")

    seen = _browse(path, actions)
    assert seen["status"].startswith("100,000 of 100,000 findings · page 1 of 2,000")
    assert "finding number 99997 <b>html-markup</b>" in seen["row"]
    assert "page 2 of 667" in seen["page2"] and seen["errors"] == []


def _report_from(found: report.Findings) -> report.Dataset:
    from dataprep.linter import Summary
    from dataprep.profile import Profile

    return report.Dataset(["big.jsonl"], Summary(), found, Profile(), None, None)


def _deep(tmp_path: Path, length: int) -> Path:
    """A data file whose absolute path is `length` characters long."""
    folder = tmp_path
    while len(str(folder)) < length - 40:
        folder = folder / ("nested-folder-" + "x" * min(30, length - 40 - len(str(folder))))
    name = "f" * (length - len(str(folder)) - 1 - len(".jsonl")) + ".jsonl"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def _messy(count: int) -> list[dict]:
    return [
        {"instruction": f"Describe colour number {i} in one sentence, please.", "input": "",
         "output": f"Colour {i} is a <p>warm</p> shade &amp; rare."}
        for i in range(count)
    ]  # fmt: skip


def test_paths_are_shown_relative_to_the_inputs_with_the_full_path_kept(tmp_path):
    deep = _deep(tmp_path, 200)
    deep.write_text("".join(json.dumps(r) + "\n" for r in _messy(3)))
    near = _write(tmp_path, _messy(2), "near.jsonl")
    places = report.Places.of(report.collect([str(deep), str(near)], PackArgs()))
    assert places.base == str(tmp_path) and places.short(str(near)) == "near.jsonl"
    shown = places.short(str(deep))
    assert len(shown) == 60 and "…" in shown and shown.endswith(".jsonl")
    _, page = _report(tmp_path, [deep])
    assert f'title="{deep}">{deep.name}:1</td>' in page  # alone: the file's own name
    assert f">{deep}:" not in page  # the full path is never the cell text
    payload = re.search(r'id="findings-data">([^<]+)<', page).group(1)
    import base64
    import gzip

    data = json.loads(gzip.decompress(base64.b64decode(payload)))
    assert data["paths"] == [str(deep)] and data["shown"] == [deep.name]


def test_histograms_bin_the_body_and_count_the_long_tail():
    from dataprep import svg

    body = [500 + (i % 100) * 10 for i in range(995)]  # 500..1490
    tail = [5_000, 9_000, 12_000, 20_000, 31_172]
    chart = str(svg.histogram([body + tail], markers=[("p50", 1000)], unit=" tokens"))
    assert chart.count('class="overflow"') == 1
    assert "5 more" in chart and "max 31,172" in chart
    assert "5 over 1,490 tokens (0.5%); the longest 31,172 tokens" in chart
    ticks = [int(t.replace(",", "")) for t in re.findall(r'class="tick">([\d,]+)</text>', chart)]
    assert max(ticks) <= 1_490  # the axis stops at the body, not at the longest record
    even = str(svg.histogram([body], unit=" tokens"))
    assert 'class="overflow"' not in even and "more" not in even
    # a marker past the body (a given cutoff_len) stays on the axis, the rest overflows
    cut = str(svg.histogram([body + tail], markers=[("cutoff 8,192", 8192)]))
    assert "4 more" in cut and "4 over 8,192" in cut


@needs_browser
def test_long_paths_wrap_inside_their_column_and_rows_stay_short(tmp_path):
    deep = _deep(tmp_path / "a", 200)
    deep.write_text("".join(json.dumps(r) + "\n" for r in _messy(30)))
    other = _deep(tmp_path / "b", 200)  # two deep folders: relative paths stay long
    other.write_text("".join(json.dumps(r) + "\n" for r in _messy(30)))
    path, _ = _report(tmp_path, [deep, other])

    def actions(page, seen):
        seen["cells"] = page.evaluate(
            """Array.from(document.querySelectorAll('#findings-table tbody tr')).map(tr => ({
                height: tr.getBoundingClientRect().height,
                line: parseFloat(getComputedStyle(tr.cells[4]).lineHeight),
                overflow: Array.from(tr.cells).filter(td => td.scrollWidth > td.clientWidth).length,
                title: tr.cells[2].title, where: tr.cells[2].textContent,
                message: tr.cells[4].getBoundingClientRect().width,
                table: tr.getBoundingClientRect().width}))"""
        )
        page.click("#page-next")
        _status(page, f"{seen['total']:,} of")
        seen["later"] = page.locator("#findings-table tbody tr").first.get_attribute("title")

    seen = {"total": 0}
    _, page_html = path, path.read_text()
    seen["total"] = int(re.search(r'id="filter-status"[^>]*>([\d,]+) of', page_html)
                        .group(1).replace(",", ""))  # fmt: skip
    result = _browse(path, lambda page, s: (s.update(seen), actions(page, s)))
    cells = result["cells"]
    assert len(cells) == report.PAGE and result["errors"] == []
    for c in cells:
        assert c["overflow"] == 0, c
        assert c["height"] <= 4 * c["line"] + 12, c  # at most a few lines
        assert c["message"] >= 0.3 * c["table"], c  # the message keeps its room
        assert c["title"] in (str(deep), str(other)) and len(c["where"]) < 80
    assert {c["title"] for c in cells} <= {str(deep), str(other)}


@needs_browser
def test_a_link_to_a_section_lands_on_it_after_the_findings_are_filled(tmp_path):
    path, _ = _report(tmp_path, [_write(tmp_path, _messy(80))])

    def actions(page, seen):
        page.wait_for_timeout(200)  # whatever the table does after load has happened
        seen["top"] = page.evaluate(
            "document.querySelector('#lengths h2').getBoundingClientRect().top"
        )
        seen["header"] = page.evaluate(
            "document.querySelector('header').getBoundingClientRect().bottom"
        )
        seen["rows"] = page.locator("#findings-table tbody tr").count()

    seen = _browse(path, actions, anchor="#lengths")
    assert seen["rows"] == report.PAGE  # the table is full: it would push a late-filled page down
    assert seen["header"] <= seen["top"] <= seen["header"] + 120, seen

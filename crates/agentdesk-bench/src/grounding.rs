//! The grounding tools on the bench's screen: windows listed and focused, text found (on an
//! unchanged screen, after one window redrew, and cold on a new page), the accessibility tree
//! of galculator and of a page of 500 elements, the page map, and OCR's accuracy on a page of
//! 100 known words (12-20 px, three fonts, light and dark), whose true boxes come from the
//! page itself (each word is a link, and Firefox reports a link's box).

use super::*;

/// The words of the accuracy page: 100, none a prefix of another.
const WORDS: &str = "harbor velvet quantum meadow cobalt lantern ripple saffron glacier orbit \
tundra pepper nimbus falcon marble cactus violet ember canyon willow beacon crimson lagoon summit \
thistle copper raven prairie zephyr maple delta onyx sparrow cedar jasmine orchid tempest granite \
pebble walnut amber coral dune ferry garnet hazel indigo jungle kettle lotus mango nectar opal \
parsec quartz rustic sable topaz umber vortex wombat xenon yonder zinnia anchor bramble cinder \
drizzle ermine fjord gossamer hemlock iris juniper kelp lilac mistral nougat osprey plume quill \
rosette sorrel trellis ubiquity vellum wisteria yarrow zodiac acorn bison comet dolphin eclipse \
fennel gravel hollow islet jigsaw kiosk";

fn words_page() -> String {
    let fonts = ["DejaVu Sans", "DejaVu Serif", "DejaVu Sans Mono"];
    let mut html = String::from(
        "<!doctype html><title>words</title><body style=\"margin:8px;background:#fff\">",
    );
    for (i, word) in WORDS.split_whitespace().enumerate() {
        let size = 12 + (i % 9);
        let dark = (i / 10) % 2 == 1;
        let (bg, fg) = if dark {
            ("#1e1e1e", "#e0e0e0")
        } else {
            ("#fff", "#222")
        };
        html.push_str(&format!(
            "<span style=\"display:inline-block;padding:6px 10px;margin:3px;background:{bg}\">\
             <a href=\"#{word}\" style=\"font-family:'{}';font-size:{size}px;color:{fg};\
             text-decoration:none\">{word}</a></span> ",
            fonts[i % 3]
        ));
    }
    html.push_str("</body>");
    html
}

fn elements_page() -> String {
    let mut html =
        String::from("<!doctype html><title>elements</title><body style=\"font:11px sans-serif\">");
    for i in 0..250 {
        html.push_str(&format!(
            "<a href=\"#{i}\">item {i}</a> <button>act {i}</button> "
        ));
    }
    html.push_str("</body>");
    html
}

impl Bench {
    /// Times `n` calls made by `call(i)`, after `setup(i)` (untimed), as one row.
    async fn grounding_row(
        &mut self,
        key: &str,
        operation: &str,
        tool: &str,
        args: impl Fn(usize) -> Value,
    ) {
        let mut sampler = Sampler::default();
        for i in 0..self.n {
            let started = Instant::now();
            let outcome = self.client.call_tool(tool, args(i)).await;
            sampler.tool(started.elapsed(), outcome);
        }
        let row = sampler.row(key, operation, tool, args(0), self.n, None);
        self.report.operations.push(row);
    }

    pub(crate) async fn grounding(&mut self) -> anyhow::Result<()> {
        self.progress.step("grounding: windows and text");
        let dir = self.home.join("agentdesk-bench");
        let page = |name: &str| format!("file://{}", dir.join(name).display());
        std::fs::write(dir.join("words.html"), words_page())?;
        std::fs::write(dir.join("elements.html"), elements_page())?;

        // Cold: the first reading of this screen (nothing read before).
        let started = Instant::now();
        let cold = self.call("screen_read_text", json!({})).await?;
        let cold_ms = ms(started.elapsed());
        let lines = cold
            .text()
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
            .and_then(|v| v["lines"].as_array().map(Vec::len))
            .unwrap_or(0);
        self.note(format!(
            "screen_read_text, cold on the whole {} screen: {cold_ms:.0} ms, {lines} lines",
            self.layout.screen
        ));
        self.report.grounding_cold_ms = Some(cold_ms);

        self.grounding_row("window_list", "window_list", "window_list", |_| json!({}))
            .await;
        self.grounding_row(
            "window_action.focus",
            "window_action focus, alternating windows (with feedback)",
            "window_action",
            |i| json!({"app": if i % 2 == 0 { "XTerm" } else { "firefox-esr" }, "action": "focus"}),
        )
        .await;
        // Unchanged: the same screen asked again (the terminal's cursor does not blink).
        let _ = self
            .client
            .call_tool("screen_find_text", json!({"text": "agentdesk"}))
            .await;
        self.grounding_row(
            "screen_find_text.unchanged",
            "screen_find_text, unchanged screen",
            "screen_find_text",
            |_| json!({"text": "agentdesk"}),
        )
        .await;
        // After one window redrew: a line printed in the terminal (untimed), then the find.
        let mut sampler = Sampler::default();
        for i in 0..self.n {
            self.click_terminal().await?;
            self.call("key_type", json!({"text": format!("echo marker{i}x\n")}))
                .await?;
            tokio::time::sleep(Duration::from_millis(300)).await;
            let started = Instant::now();
            let outcome = self
                .client
                .call_tool("screen_find_text", json!({"text": format!("marker{i}x")}))
                .await;
            sampler.tool(started.elapsed(), outcome);
        }
        let row = sampler.row(
            "screen_find_text.redrawn",
            "screen_find_text, after one window redrew",
            "screen_find_text",
            json!({"text": "marker0x"}),
            self.n,
            None,
        );
        self.report.operations.push(row);

        self.progress
            .step("grounding: accuracy, accessibility, page map");
        self.call("browser_navigate", json!({"url": page("words.html")}))
            .await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.accuracy().await?;

        self.call("browser_navigate", json!({"url": page("elements.html")}))
            .await?;
        self.grounding_row(
            "ui_find.firefox",
            "ui_find in Firefox, a page of 500 elements",
            "ui_find",
            |i| json!({"role": "link", "name": format!("item {}", 100 + i), "limit": 5}),
        )
        .await;
        self.grounding_row(
            "browser_page_map",
            "browser_page_map, a page of 500 elements",
            "browser_page_map",
            |_| json!({}),
        )
        .await;

        self.call("app_launch", json!({"command": "galculator"}))
            .await?;
        let started = Instant::now();
        loop {
            let tree = self.call("ui_tree", json!({"app": "galculator"})).await?;
            if tree.text().is_some_and(|t| t.contains("button \"7\"")) {
                let lines = tree.text().map_or(0, |t| t.lines().count());
                self.note(format!("ui_tree of galculator: {lines} lines"));
                break;
            }
            if started.elapsed() > CONTENT_TIMEOUT {
                bail!("galculator's buttons did not show in its accessibility tree");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.grounding_row(
            "ui_tree.galculator",
            "ui_tree of galculator",
            "ui_tree",
            |_| json!({"app": "galculator"}),
        )
        .await;
        Ok(())
    }

    /// Text found against the truth: each word's link box from the page map, and whether
    /// screen_find_text finds the word there (centre within 3 px, edges within 3 px); by OCR
    /// alone (the report's figure), then as agents get it by default (Firefox's tree).
    async fn accuracy(&mut self) -> anyhow::Result<()> {
        let map = self.call("browser_page_map", json!({})).await?;
        let map: Value = serde_json::from_str(map.text().unwrap_or("{}"))?;
        let truth: Vec<(String, f64, f64, f64)> = map["elements"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["role"] == "link")
            .filter_map(|e| {
                Some((
                    e["label"].as_str()?.to_string(),
                    e["x"].as_f64()?,
                    e["x"].as_f64()? + e["width"].as_f64()?,
                    e["center_y"].as_f64()?,
                ))
            })
            .collect();
        for source in ["ocr", "auto"] {
            self.accuracy_by(&truth, source).await?;
        }
        Ok(())
    }

    async fn accuracy_by(
        &mut self,
        truth: &[(String, f64, f64, f64)],
        source: &str,
    ) -> anyhow::Result<()> {
        let reading = self
            .call(
                "screen_read_text",
                json!({"max_lines": 1000, "source": source}),
            )
            .await?;
        let reading: Value = serde_json::from_str(reading.text().unwrap_or("{}"))?;
        let mut found = 0;
        let mut placed = 0;
        for (word, x0, x1, cy) in truth {
            let hit = self
                .client
                .call_tool(
                    "screen_find_text",
                    json!({"text": word, "exact": true, "source": source}),
                )
                .await?;
            let Ok(v) = serde_json::from_str::<Value>(hit.text().unwrap_or("{}")) else {
                continue;
            };
            let near = v["matches"].as_array().into_iter().flatten().any(|m| {
                let (mx0, mw) = (
                    m["x"].as_f64().unwrap_or(-99.0),
                    m["width"].as_f64().unwrap_or(0.0),
                );
                let my = m["center_y"].as_f64().unwrap_or(-99.0);
                (mx0 - x0).abs() <= 3.0 && (mx0 + mw - x1).abs() <= 3.0 && (my - cy).abs() <= 3.0
            });
            if !v["matches"].as_array().is_none_or(Vec::is_empty) {
                found += 1;
            }
            if near {
                placed += 1;
            }
        }
        let total = truth.len();
        let lines = reading["lines"].as_array().map_or(0, Vec::len);
        self.note(format!(
            "text found (source {source}), {total} known words (12-20 px, three fonts, light \
             and dark): {found} found ({:.0}%), {placed} with every edge within 3 px of the \
             word's own box; {lines} lines read",
            100.0 * found as f64 / total.max(1) as f64
        ));
        if source == "ocr" {
            self.report.grounding_accuracy = Some((found, placed, total));
            if total < 100 {
                self.note(format!("the page map listed {total} of the 100 words"));
            }
        }
        Ok(())
    }
}

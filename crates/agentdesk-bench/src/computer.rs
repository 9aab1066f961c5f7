//! The executor endpoints (`POST /desktops/{id}/computer/{dialect}`) on the bench's screen:
//! what a batched action costs beyond the action itself (a turn of 21 `cursor_position` calls
//! against a turn of one), a five-action Anthropic turn ending in one screenshot, the same
//! turn through the `batch` MCP tool, and a paced turn that types into the terminal (each
//! key waits for the screen to settle, as debounced apps need).

use super::*;

const DESKTOP: &str = "default";

fn member(i: usize, name: &str, input: Value) -> Value {
    json!({"type": "tool_use", "id": format!("toolu_{i}"), "name": name,
           "toolset_name": "computer", "input": input})
}

impl Bench {
    /// Times `n` executor requests of `body` to `dialect` as one row.
    async fn executor_row(&mut self, key: &str, operation: &str, query: &str, body: Value) {
        let path = format!("/desktops/{DESKTOP}/computer/anthropic{query}");
        let mut sampler = Sampler::default();
        for _ in 0..self.n {
            let started = Instant::now();
            let outcome = self.client.rest("POST", &path, Some(body.clone())).await;
            let elapsed = started.elapsed();
            let outcome = outcome.map(|(status, result)| ToolResult {
                // Every block of the answer must have run.
                is_error: status != 200
                    || result["content"]
                        .as_array()
                        .is_none_or(|c| c.iter().any(|b| b["is_error"] == true)),
                result,
            });
            sampler.tool(elapsed, outcome);
        }
        let row = sampler.row(key, operation, "computer/anthropic", body, self.n, None);
        self.report.operations.push(row);
    }

    pub(crate) async fn computer(&mut self) -> anyhow::Result<()> {
        self.progress.step("executor endpoints: batched turns");
        let one = json!([member(0, "cursor_position", json!({}))]);
        let many: Vec<Value> = (0..21)
            .map(|i| member(i, "cursor_position", json!({})))
            .collect();
        self.executor_row(
            "computer_turn_1",
            "executor: a turn of 1 cursor_position",
            "?screenshot=false",
            one,
        )
        .await;
        self.executor_row(
            "computer_turn_21",
            "executor: a turn of 21 cursor_position",
            "?screenshot=false",
            Value::Array(many),
        )
        .await;
        let (x, y) = self.layout.term_point();
        let moves: Vec<Value> = (0..4)
            .map(|i| member(i, "mouse_move", json!({"coordinate": [x + i as u32, y]})))
            .chain([member(4, "screenshot", json!({}))])
            .collect();
        self.executor_row(
            "computer_batch5",
            "executor: 4 mouse_move + screenshot in one turn",
            "",
            Value::Array(moves),
        )
        .await;
        // The same through MCP's batch tool.
        let mut sampler = Sampler::default();
        let actions: Vec<Value> = (0..4)
            .map(|i| json!({"action": "mouse_move", "x": x + i as u32, "y": y}))
            .collect();
        let args = json!({"actions": actions});
        for _ in 0..self.n {
            let started = Instant::now();
            let outcome = self.client.call_tool("batch", args.clone()).await;
            sampler.tool(started.elapsed(), outcome);
        }
        let row = sampler.row(
            "batch5",
            "batch: 4 mouse_move + screenshot",
            "batch",
            args,
            self.n,
            None,
        );
        self.report.operations.push(row);
        // Paced: click the terminal, type a character, erase it; each waits for quiet.
        let typed = json!([
            member(0, "left_click", json!({"coordinate": [x, y]})),
            member(1, "type", json!({"text": "x"})),
            member(2, "key", json!({"text": "BackSpace"})),
        ]);
        self.executor_row(
            "computer_paced3",
            "executor: click, type, key into xterm (paced) + screenshot",
            "",
            typed,
        )
        .await;
        Ok(())
    }
}

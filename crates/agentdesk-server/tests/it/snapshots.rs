//! Snapshots and files over REST and MCP, in-process: the desktops never start, so a save
//! copies a home the test filled and a restore swaps it (the frozen-desktop path is covered
//! end to end in tests/e2e/test_snapshots.py).

use std::os::unix::fs::PermissionsExt as _;

use super::*;

fn snapshot_ids(list: &Value) -> Vec<String> {
    list["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_snapshot_saved_over_rest_restores_the_home_and_belongs_to_its_maker() {
    let f = fixture(true).await;
    let home = f.home("alices");
    std::fs::write(home.join("cookies.sqlite"), b"session=1").unwrap();
    std::fs::create_dir(home.join("Documents")).unwrap();
    std::fs::write(home.join("Documents/plan.txt"), b"v1").unwrap();
    std::os::unix::fs::symlink("Documents/plan.txt", home.join("latest")).unwrap();

    let saved = f
        .send(
            "POST",
            "/api/desktops/alices/snapshots",
            Some(ALICE),
            Some(json!({"label": "logged-in"})),
        )
        .await;
    assert_eq!(saved.status, StatusCode::CREATED, "{}", saved.text);
    let id = saved.body["id"].as_str().unwrap().to_string();
    assert_eq!(saved.body["label"], "logged-in");
    assert_eq!(saved.body["owner"], "alice");
    assert_eq!(saved.body["files"], 2);

    // Bob sees nothing of it, exactly as if it did not exist; the admin sees it.
    let bobs = f.send("GET", "/api/snapshots", Some(BOB), None).await;
    assert!(snapshot_ids(&bobs.body).is_empty());
    for path in [
        format!("/api/snapshots/{id}"),
        "/api/snapshots/logged-in".into(),
        "/api/snapshots/nosuch".into(),
    ] {
        let answer = f.send("GET", &path, Some(BOB), None).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            answer.body["error"],
            format!("no snapshot named {:?}", path.rsplit('/').next().unwrap())
        );
    }
    let restore = f
        .send(
            "POST",
            "/api/desktops/bobs/restore",
            Some(BOB),
            Some(json!({"snapshot": id})),
        )
        .await;
    assert_eq!(restore.status, StatusCode::NOT_FOUND, "{}", restore.text);
    let clone = f
        .send(
            "POST",
            "/api/desktops",
            Some(BOB),
            Some(json!({"from_snapshot": id})),
        )
        .await;
    assert_eq!(clone.status, StatusCode::NOT_FOUND, "{}", clone.text);
    let ops = f.send("GET", "/api/snapshots", Some(OPS), None).await;
    assert_eq!(snapshot_ids(&ops.body), std::slice::from_ref(&id));

    // Change the home, then restore by label: byte for byte what was saved.
    std::fs::write(home.join("Documents/plan.txt"), b"v2").unwrap();
    std::fs::write(home.join("junk"), b"later").unwrap();
    let restored = f
        .send(
            "POST",
            "/api/desktops/alices/restore",
            Some(ALICE),
            Some(json!({"snapshot": "logged-in"})),
        )
        .await;
    assert_eq!(restored.status, StatusCode::OK, "{}", restored.text);
    assert_eq!(restored.body["restored"]["id"], id);
    assert_eq!(
        std::fs::read(home.join("Documents/plan.txt")).unwrap(),
        b"v1"
    );
    assert!(!home.join("junk").exists());
    assert_eq!(
        std::fs::read_link(home.join("latest")).unwrap(),
        Path::new("Documents/plan.txt")
    );
    let leftovers: Vec<_> = std::fs::read_dir(home.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "home")
        .collect();
    assert!(
        leftovers.iter().all(|n| !n.starts_with("home.")),
        "{leftovers:?}"
    );

    let verified = f
        .send(
            "POST",
            &format!("/api/snapshots/{id}/verify"),
            Some(ALICE),
            None,
        )
        .await;
    assert_eq!(verified.body["ok"], true, "{}", verified.text);
}

#[tokio::test]
async fn the_newest_snapshot_needs_force_and_old_ones_go_past_the_keep_limit() {
    let f = fixture(true).await;
    let home = f.home("alices");
    let mut ids = Vec::new();
    for i in 0..4 {
        std::fs::write(home.join("f"), format!("version {i}")).unwrap();
        let saved = f
            .send("POST", "/api/desktops/alices/snapshots", Some(ALICE), None)
            .await;
        assert_eq!(saved.status, StatusCode::CREATED, "{}", saved.text);
        ids.push(saved.body["id"].as_str().unwrap().to_string());
        // Snapshots are ordered by second; keep them apart.
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    // The fixture keeps 3 per desktop: the first is gone.
    let list = f
        .send("GET", "/api/snapshots?desktop=alices", Some(ALICE), None)
        .await;
    assert_eq!(snapshot_ids(&list.body), ids[1..]);
    let newest = &ids[3];
    let refused = f
        .send(
            "DELETE",
            &format!("/api/snapshots/{newest}"),
            Some(ALICE),
            None,
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(
        refused.body["error"].as_str().unwrap().contains("force"),
        "{}",
        refused.text
    );
    let older = f
        .send(
            "DELETE",
            &format!("/api/snapshots/{}", ids[1]),
            Some(ALICE),
            None,
        )
        .await;
    assert_eq!(older.status, StatusCode::OK, "{}", older.text);
    let forced = f
        .send(
            "DELETE",
            &format!("/api/snapshots/{newest}?force=true"),
            Some(ALICE),
            None,
        )
        .await;
    assert_eq!(forced.status, StatusCode::OK, "{}", forced.text);
    let list = f.send("GET", "/api/snapshots", Some(ALICE), None).await;
    assert_eq!(snapshot_ids(&list.body), [ids[2].clone()]);
    // Bob may not delete alice's.
    let bob = f
        .send(
            "DELETE",
            &format!("/api/snapshots/{}?force=1", ids[2]),
            Some(BOB),
            None,
        )
        .await;
    assert_eq!(bob.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn damage_is_reported_by_verify_and_refused_by_restore_leaving_the_home() {
    let f = fixture(true).await;
    let home = f.home("alices");
    std::fs::write(home.join("report.txt"), "quarterly numbers ".repeat(1000)).unwrap();
    let saved = f
        .send("POST", "/api/desktops/alices/snapshots", Some(ALICE), None)
        .await;
    let id = saved.body["id"].as_str().unwrap().to_string();
    // Damage every chunk in the store.
    let chunks = f.dir.path().join("data/snapshots/chunks");
    for dir in std::fs::read_dir(&chunks).unwrap().flatten() {
        for chunk in std::fs::read_dir(dir.path()).unwrap().flatten() {
            std::fs::write(chunk.path(), b"not zstd").unwrap();
        }
    }
    let verified = f
        .send(
            "POST",
            &format!("/api/snapshots/{id}/verify"),
            Some(ALICE),
            None,
        )
        .await;
    assert_eq!(verified.body["ok"], false);
    assert_eq!(verified.body["damaged_files"], json!(["report.txt"]));
    std::fs::write(home.join("report.txt"), b"current").unwrap();
    let restore = f
        .send(
            "POST",
            "/api/desktops/alices/restore",
            Some(ALICE),
            Some(json!({"snapshot": id})),
        )
        .await;
    assert_eq!(
        restore.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        restore.text
    );
    assert!(restore.text.contains("report.txt"), "{}", restore.text);
    assert_eq!(std::fs::read(home.join("report.txt")).unwrap(), b"current");
}

#[tokio::test]
async fn snapshot_tools_report_progress_lines_over_rest_when_asked() {
    let f = fixture(true).await;
    let home = f.home("alices");
    std::fs::write(home.join("big"), vec![7u8; 3_000_000]).unwrap();
    let (status, body) = f
        .raw(
            "POST",
            "/api/desktops/alices/snapshots",
            ALICE,
            b"{}".to_vec(),
            &[("accept", "application/x-ndjson")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let lines: Vec<Value> = String::from_utf8(body)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let last = lines.last().unwrap();
    assert_eq!(last["result"]["files"], 1, "{lines:?}");
    assert!(
        lines[..lines.len() - 1]
            .iter()
            .all(|l| l["progress"]["total"] == 3_000_000),
        "{lines:?}"
    );
}

#[tokio::test]
async fn files_move_in_and_out_and_never_leave_the_home() {
    let f = fixture(true).await;
    let home = f.home("alices");
    let outside = f.dir.path().join("secret");
    std::fs::write(&outside, b"operator's").unwrap();
    std::os::unix::fs::symlink(&outside, home.join("link-out")).unwrap();
    std::os::unix::fs::symlink(f.dir.path(), home.join("dir-out")).unwrap();

    // PUT streams a body in; GET streams it back; the listing shows it.
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let (status, body) = f
        .raw(
            "PUT",
            "/api/desktops/alices/files/in/data.bin?mode=600",
            ALICE,
            data.clone(),
            &[],
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(std::fs::read(home.join("in/data.bin")).unwrap(), data);
    assert_eq!(
        std::fs::metadata(home.join("in/data.bin"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let (status, body) = f
        .raw(
            "GET",
            "/api/desktops/alices/files/in/data.bin",
            ALICE,
            vec![],
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body == data, "the download differs");
    let listing = f
        .send("GET", "/api/desktops/alices/files", Some(ALICE), None)
        .await;
    let names: Vec<&str> = listing.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dir-out", "in", "link-out"]);

    // Hostile paths: refused, and nothing outside read or written.
    for path in [
        "link-out",
        "dir-out/secret",
        "in/../../secret",
        "%2E%2E/secret",
    ] {
        let (status, body) = f
            .raw(
                "GET",
                &format!("/api/desktops/alices/files/{path}"),
                ALICE,
                vec![],
                &[],
            )
            .await;
        assert!(status.is_client_error(), "{path}: {status}");
        assert!(
            !String::from_utf8_lossy(&body).contains("operator's"),
            "{path}"
        );
        let (status, _) = f
            .raw(
                "PUT",
                &format!("/api/desktops/alices/files/{path}"),
                ALICE,
                b"x".to_vec(),
                &[],
            )
            .await;
        assert!(
            status.is_client_error() || path == "link-out",
            "{path}: {status}"
        );
    }
    assert_eq!(std::fs::read(&outside).unwrap(), b"operator's");
    // PUT onto the link replaced the link, not what it pointed to.
    assert!(!std::fs::symlink_metadata(home.join("link-out"))
        .unwrap()
        .is_symlink());

    // Another token's desktop: not found, like a missing one; an admin reaches it.
    for (token, want) in [(BOB, StatusCode::NOT_FOUND), (OPS, StatusCode::OK)] {
        let (status, _) = f
            .raw(
                "GET",
                "/api/desktops/alices/files/in/data.bin",
                token,
                vec![],
                &[],
            )
            .await;
        assert_eq!(status, want);
    }
    let (status, _) = f
        .raw(
            "PUT",
            "/api/desktops/alices/files/x",
            BOB,
            b"x".to_vec(),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!home.join("x").exists());
}

#[tokio::test]
async fn the_file_tools_on_mcp_keep_to_the_callers_desktops() {
    let f = fixture(true).await;
    let home = f.home("alices");
    std::fs::write(home.join("notes.txt"), "hello from the desktop").unwrap();
    let up = f
        .tool(
            "/mcp",
            Some(ALICE),
            "file_upload",
            json!({"desktop": "alices", "path": "a/b.txt", "text": "written"}),
        )
        .await;
    assert_eq!(up.body["result"]["isError"], false, "{}", up.text);
    assert_eq!(std::fs::read(home.join("a/b.txt")).unwrap(), b"written");
    let audit = std::fs::read_to_string(f.dir.path().join("data/audit.jsonl")).unwrap();
    let line = audit.lines().find(|l| l.contains("file_upload")).unwrap();
    assert!(
        line.contains("[7 characters]") && !line.contains("written"),
        "{line}"
    );
    let down = f
        .tool(
            "/mcp",
            Some(ALICE),
            "file_download",
            json!({"desktop": "alices", "path": "notes.txt"}),
        )
        .await;
    assert_eq!(
        down.body["result"]["content"][1]["resource"]["text"], "hello from the desktop",
        "{}",
        down.text
    );
    let binary = f
        .tool(
            "/mcp",
            Some(ALICE),
            "file_upload",
            json!({"desktop": "alices", "path": "bin", "content_base64": "AAEC/w=="}),
        )
        .await;
    assert_eq!(binary.body["result"]["isError"], false, "{}", binary.text);
    let down = f
        .tool(
            "/mcp",
            Some(ALICE),
            "file_download",
            json!({"desktop": "alices", "path": "bin"}),
        )
        .await;
    assert_eq!(
        down.body["result"]["content"][1]["resource"]["blob"],
        "AAEC/w=="
    );
    for (args, want) in [
        (
            json!({"desktop": "alices", "path": "/etc/passwd"}),
            "absolute",
        ),
        (json!({"desktop": "alices", "path": "../x"}), "home"),
        (json!({"desktop": "bobs", "path": "x"}), "no desktop named"),
        (
            json!({"desktop": "alices", "path": "nope"}),
            "no file or directory",
        ),
    ] {
        let answer = f
            .tool("/mcp", Some(ALICE), "file_download", args.clone())
            .await;
        assert_eq!(answer.body["result"]["isError"], true, "{args}");
        assert!(
            result_text(&answer).contains(want),
            "{args}: {}",
            result_text(&answer)
        );
    }
    let listed = f
        .tool(
            "/mcp",
            Some(ALICE),
            "file_list",
            json!({"desktop": "alices"}),
        )
        .await;
    let entries = &listed.body["result"]["structuredContent"]["entries"];
    assert_eq!(entries.as_array().unwrap().len(), 3, "{}", listed.text);
}

#[tokio::test]
async fn another_tokens_saves_never_push_out_yours_and_a_token_holds_a_bounded_number() {
    let f = fixture(true).await;
    let home = f.home("shared");
    std::fs::write(home.join("f"), b"shared file").unwrap();
    let save = |token| f.send("POST", "/api/desktops/shared/snapshots", Some(token), None);
    let alices = save(ALICE).await;
    assert_eq!(alices.status, StatusCode::CREATED, "{}", alices.text);
    for _ in 0..5 {
        assert_eq!(save(BOB).await.status, StatusCode::CREATED);
    }
    // Bob kept his newest three; alice's one is still there.
    let list = f.send("GET", "/api/snapshots", Some(ALICE), None).await;
    assert_eq!(
        snapshot_ids(&list.body),
        [alices.body["id"].as_str().unwrap()]
    );
    let list = f.send("GET", "/api/snapshots", Some(BOB), None).await;
    assert_eq!(snapshot_ids(&list.body).len(), 3);
    // Her only snapshot still needs force, whatever bob saved since.
    let id = alices.body["id"].as_str().unwrap();
    let refused = f
        .send("DELETE", &format!("/api/snapshots/{id}"), Some(ALICE), None)
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);

    // The fixture lets a token hold 5 in all.
    let mine = f.home("alices");
    std::fs::write(mine.join("f"), b"x").unwrap();
    for _ in 0..4 {
        let saved = f
            .send("POST", "/api/desktops/alices/snapshots", Some(ALICE), None)
            .await;
        assert_eq!(saved.status, StatusCode::CREATED, "{}", saved.text);
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let full = f
        .send("POST", "/api/desktops/alices/snapshots", Some(ALICE), None)
        .await;
    // Three on "alices" are kept (the oldest went), plus the one on "shared": 4.
    assert_eq!(full.status, StatusCode::CREATED, "{}", full.text);
    std::fs::write(mine.join("g"), b"y").unwrap();
    let other = f.home("shared");
    std::fs::write(other.join("g"), b"z").unwrap();
    // Now 3 of "alices" and 2 of "shared": the fifth.
    let fifth = f
        .send("POST", "/api/desktops/shared/snapshots", Some(ALICE), None)
        .await;
    assert_eq!(fifth.status, StatusCode::CREATED, "{}", fifth.text);
    let over = f
        .send("POST", "/api/desktops/shared/snapshots", Some(ALICE), None)
        .await;
    assert_eq!(over.status, StatusCode::FORBIDDEN, "{}", over.text);
    assert!(
        over.text.contains("--max-snapshots-per-token"),
        "{}",
        over.text
    );
}

#[tokio::test]
async fn a_delete_during_a_save_never_takes_the_new_snapshots_files() {
    let f = fixture(true).await;
    let home = f.home("alices");
    std::fs::write(home.join("small"), b"small").unwrap();
    let first = f
        .send("POST", "/api/desktops/alices/snapshots", Some(ALICE), None)
        .await;
    let first = first.body["id"].as_str().unwrap().to_string();
    let bobs = f.home("bobs");
    let big: Vec<u8> = (0..60_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(bobs.join("big"), &big).unwrap();
    let save = f.send("POST", "/api/desktops/bobs/snapshots", Some(BOB), None);
    let delete = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        f.send(
            "DELETE",
            &format!("/api/snapshots/{first}?force=true"),
            Some(ALICE),
            None,
        )
        .await
    };
    let (saved, deleted) = tokio::join!(save, delete);
    assert_eq!(saved.status, StatusCode::CREATED, "{}", saved.text);
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text);
    let id = saved.body["id"].as_str().unwrap();
    let verified = f
        .send(
            "POST",
            &format!("/api/snapshots/{id}/verify"),
            Some(BOB),
            None,
        )
        .await;
    assert_eq!(verified.body["ok"], true, "{}", verified.text);
}

#[tokio::test]
async fn a_token_has_a_few_file_transfers_open_at_once() {
    let f = fixture(true).await;
    let home = f.home("alices");
    std::fs::write(home.join("f"), vec![1u8; 4_000_000]).unwrap();
    let request = || {
        let mut request = Request::builder()
            .method("GET")
            .uri("/api/desktops/alices/files/f")
            .header("host", "127.0.0.1:3000")
            .header("authorization", format!("Bearer {ALICE}"))
            .body(Body::empty())
            .unwrap();
        let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(Peer(peer)));
        request
    };
    // Four downloads nobody reads hold their turns; a fifth waits for one.
    let mut open = Vec::new();
    for _ in 0..4 {
        let response = f.router.clone().oneshot(request()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        open.push(response);
    }
    let refused = f.router.clone().oneshot(request()).await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    // Bob's are his own.
    let (status, _) = f
        .raw("GET", "/api/desktops/bobs/files", BOB, vec![], &[])
        .await;
    assert_ne!(status, StatusCode::TOO_MANY_REQUESTS);
    open.pop();
    let again = f.router.clone().oneshot(request()).await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
}

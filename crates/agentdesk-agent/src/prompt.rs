//! What the model is told: the system prompt, the help function, the first message.

use agentdesk_computer::Space;
use serde_json::{json, Value};

use crate::HELP_FUNCTION;

/// The system prompt for every provider but UI-TARS (whose prompt carries its action space).
pub(crate) fn system(space: &Space) -> String {
    let screen = space.screen();
    let image = space.image_size();
    let coordinates = space.describe();
    format!(
        "You operate a Linux desktop (the IceWM window manager, a {}x{} screen; screenshots \
         you are shown are {}x{}; coordinates are {coordinates}) to reach the user's goal. \
         Work step by step: after each action, look at the new screenshot to check that it \
         did what you meant before you go on. Open applications from the menu at the \
         bottom-left corner of the screen, or with a double-click on a window's title bar to \
         maximise it when it is too small to read. Keyboard shortcuts are often the surest \
         way (ctrl+s saves, Return confirms a dialog). When the goal is reached, stop using \
         tools and reply with a short summary of what you did and where the result is. If \
         you need a person — a password or secret you do not have, a captcha, a choice only \
         the user can make, or something you cannot do — call {HELP_FUNCTION} with your \
         question and wait for the answer; do not guess at secrets.",
        screen.width, screen.height, image.width, image.height
    )
}

/// The help function's description and schema (the JSON schema of its one argument).
pub(crate) const HELP_DESCRIPTION: &str = "Ask the person watching this desktop for help: a \
    secret you lack, a captcha, a decision only they can make. They may take control of the \
    desktop to do it. The task waits for their answer, which comes back as this call's result.";

pub(crate) fn help_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "question": {
                "type": "string",
                "description": "What you need from the person, in one or two sentences."
            }
        },
        "required": ["question"]
    })
}

/// The first message's text.
pub(crate) fn goal(goal: &str) -> String {
    format!("Goal: {goal}\n\nThis is the screen now.")
}

/// UI-TARS's prompt: its action space, in its own notation, on a 0–1000 grid.
pub(crate) fn tars(goal: &str) -> String {
    format!(
        "You are a GUI agent operating a Linux desktop. Given the goal, the actions so far and \
         the latest screenshot, give the next action.\n\n\
         Answer in this form:\n\
         Thought: what you see and what you will do next\n\
         Action: one action\n\n\
         Actions (points are (x,y) on a 0-1000 grid of the screenshot):\n\
         click(start_box='(x,y)')\n\
         left_double(start_box='(x,y)')\n\
         right_single(start_box='(x,y)')\n\
         drag(start_box='(x1,y1)', end_box='(x2,y2)')\n\
         hotkey(key='ctrl s')\n\
         type(content='text') (end the text with \\n to press Enter)\n\
         scroll(start_box='(x,y)', direction='down or up or right or left')\n\
         wait() (five seconds)\n\
         finished(content='what was done')\n\
         call_user(content='what you need from a person')\n\n\
         Goal: {goal}"
    )
}

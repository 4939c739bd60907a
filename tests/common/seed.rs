//! The seed page's curl commands, parsed as a shell would read them.

/// The host the seed's commands name.
pub const SEED_HOST: &str = "https://model-api.runcomfy.net";

/// The curl commands on the seed page, in page order, each one complete
/// (continuation lines and the quoted `--data` body included).
pub fn seed_curl_commands() -> Vec<String> {
    let page = include_str!("../fixtures/seed-page.txt");
    let mut commands = Vec::new();
    let mut current: Option<String> = None;
    for line in page.lines() {
        match current.as_mut() {
            None if line.trim_start().starts_with("curl ") => current = Some(String::new()),
            None => continue,
            Some(_) => {}
        }
        let command = current.as_mut().expect("inside a command");
        command.push_str(line);
        command.push('\n');
        let in_data = command.contains("--data '") && !line.trim_end().ends_with('\'');
        if !line.trim_end().ends_with('\\') && !in_data {
            commands.push(current.take().expect("a command"));
        }
    }
    commands
}

/// Splits a seed command into curl's arguments, as a shell would.
///
/// The page's submit command is not valid shell: the apostrophe in
/// "girl's" closes its single-quoted `--data`. The page means the JSON
/// between `--data '` and the command's last `'`, so that is what this
/// passes to curl, verbatim.
pub fn curl_arguments(command: &str) -> Vec<String> {
    let joined = command.replace("\\\n", " ");
    let mut args = Vec::new();
    let mut rest = joined.trim();
    while !rest.is_empty() {
        let (arg, after) = if let Some(quoted) = rest.strip_prefix('\'') {
            let end = quoted.rfind('\'').expect("a closing quote");
            (&quoted[..end], &quoted[end + 1..])
        } else if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').expect("a closing quote");
            (&quoted[..end], &quoted[end + 1..])
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        args.push(arg.to_string());
        rest = after.trim_start();
    }
    assert_eq!(args.first().map(String::as_str), Some("curl"));
    args.remove(0);
    args
}

/// The seed's command for `method` on `path_end`.
pub fn seed_command(method: &str, path_end: &str) -> String {
    seed_curl_commands()
        .into_iter()
        .find(|c| c.contains(&format!("--request {method}")) && c.contains(path_end))
        .unwrap_or_else(|| panic!("the seed has a {method} ...{path_end} command"))
}

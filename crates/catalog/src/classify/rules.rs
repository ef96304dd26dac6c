//! The classifier's rules, as data: every verb list, phrase and schema
//! signal is one row with a stable id and the reason it produces. The
//! classifying code (`judge.rs`) walks this table; a reviewer changes a
//! verdict by editing a row, and `every_row_fires_on_its_example` tests each.

use super::{Category, Flag};

/// Where a rule looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    /// The words of the tool's name; verb rows also read the first sentence
    /// of the description when the name holds no verb.
    Name,
    /// A phrase (whole words, lowercase) in the title or description.
    Description,
    /// A top-level property of the input schema, compared squashed
    /// (`api_key`, `apiKey` and `API-KEY` are one name).
    Property,
    /// The number of top-level properties of the input schema.
    PropertyCount,
    /// One of the MCP tool annotations, by its key.
    Annotation,
    /// Nothing else matched.
    Fallback,
}

/// What a matching rule does to the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// The tool does this: the most severe verb decides the category.
    Verb(Category),
    /// A noun about money: a tool that changes it (write, execute or
    /// destructive) is financial; one that only reads it stays a read.
    MoneyNoun,
    /// The category is at least this.
    AtLeast(Category),
    /// Adds a flag.
    Flag(Flag),
    /// Adds a flag and makes a writing tool (or one with no verb) execute.
    Executes,
    /// An amount-like argument: the spend cap's cost in a recommendation;
    /// with a money noun it confirms a financial tool.
    AmountArgument,
    /// `readOnlyHint: true` lowers an unrecognised tool to a read only for a
    /// trusted server, and contradicts a tool that writes; `false`
    /// contradicts a tool that reads. Annotations never change a category
    /// the name, description or schema gave: they raise risk and flag.
    ReadOnlyHint,
    /// `destructiveHint: true` (unless also read-only): risk at least high.
    DestructiveHint,
    /// `openWorldHint: true`: the tool reaches beyond the server.
    OpenWorldHint,
    /// The default verdict for a tool no rule recognises.
    Unrecognised,
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Stable id, shown with every reason and in the docs.
    pub id: &'static str,
    pub on: On,
    /// Words, phrases, property names or the annotation key it matches
    /// (for `PropertyCount`, unused: see [`MANY_PARAMETERS`]).
    pub terms: &'static [&'static str],
    pub effect: Effect,
    /// The reason's text; `{}` is replaced by the evidence.
    pub text: &'static str,
    /// A name, description, property name or annotation key this row fires
    /// on, for its unit test.
    pub example: &'static str,
}

/// More top-level parameters than this is unusual for one tool.
pub const MANY_PARAMETERS: usize = 15;

use Category::{Destructive, Execute, Financial, Read, Write};

#[rustfmt::skip] // one row per rule, terms wrapped: the table reads as a table
pub const RULES: &[Rule] = &[
    // ---- verbs (in the name, or opening the description) ----
    Rule {
        id: "verb.read",
        on: On::Name,
        terms: &[
            "get", "list", "read", "search", "find", "fetch", "show", "describe", "query",
            "lookup", "view", "retrieve", "count", "check", "inspect", "browse", "download",
            "export", "status", "info", "open", "navigate", "screenshot", "geocode",
            "directions", "distance", "analyze", "analyse", "summarize", "compare", "diff",
            "log", "validate", "preview", "explain", "convert", "resolve", "echo", "ls",
            "cat", "stat", "tree", "glob", "grep", "return", "calculate", "compute",
            "scrape", "crawl", "extract", "map", "snapshot", "verify", "test", "visualize",
            "render", "estimate", "watch", "poll", "whoami", "load", "print", "summarise",
            "translate", "recommend", "suggest", "explore", "discover", "research",
        ],
        effect: Effect::Verb(Read),
        text: "\"{}\" says the tool reads",
        example: "github_get_issue",
    },
    Rule {
        id: "verb.write",
        on: On::Name,
        terms: &[
            "create", "add", "update", "edit", "set", "write", "put", "post", "send",
            "insert", "upload", "save", "patch", "modify", "rename", "move", "copy",
            "append", "comment", "reply", "react", "assign", "label", "tag", "fork", "push",
            "commit", "merge", "publish", "invite", "star", "subscribe", "schedule",
            "enable", "disable", "install", "fill", "click", "type", "select", "hover",
            "press", "submit", "mark", "close", "reopen", "archive", "unarchive", "approve",
            "reject", "store", "record", "register", "configure", "apply", "import",
            "upsert", "replace", "checkout", "stage", "link", "unlink", "share", "notify",
            "email", "message", "mkdir", "touch", "drag", "upgrade", "rollback", "restore",
            "lock", "unlock", "pin", "unpin", "sync", "generate", "transcribe", "init",
            "initialize", "provision", "claim", "complete", "change", "toggle", "attach",
            "detach", "grant", "scale", "pause", "resume", "restart", "stop", "start",
            "finalize", "confirm", "request", "duplicate", "clone", "reorder", "follow",
            "unfollow", "like", "vote", "enroll", "book", "reserve",
        ],
        effect: Effect::Verb(Write),
        text: "\"{}\" says the tool changes state",
        example: "slack.postMessage",
    },
    Rule {
        id: "verb.execute",
        on: On::Name,
        terms: &[
            "run", "execute", "exec", "eval", "evaluate", "invoke", "call", "trigger",
            "dispatch", "shell", "bash", "sh", "powershell", "python", "javascript", "js",
            "script", "deploy", "build", "launch", "spawn", "sql", "cmd", "command",
            "terminal", "compile", "interpret", "repl", "sandbox",
        ],
        effect: Effect::Verb(Execute),
        text: "\"{}\" says the tool runs code, commands or queries",
        example: "execute_command",
    },
    Rule {
        id: "verb.delete",
        on: On::Name,
        terms: &[
            "delete", "remove", "destroy", "drop", "purge", "wipe", "erase", "truncate",
            "revoke", "terminate", "kill", "reset", "overwrite", "clear", "uninstall",
            "unpublish", "rm", "rmdir", "del", "discard", "void", "cancel", "expire",
            "deactivate", "ban", "kick", "evict", "nuke", "flush", "prune", "shred",
            "unregister", "unsubscribe", "forget", "obliterate", "deprovision",
        ],
        effect: Effect::Verb(Destructive),
        text: "\"{}\" says the tool deletes, cancels or overwrites",
        example: "repo_delete",
    },
    Rule {
        id: "verb.money",
        on: On::Name,
        terms: &[
            "charge", "refund", "pay", "payout", "transfer", "purchase", "buy", "withdraw",
            "deposit", "bill", "capture", "invoice", "sell", "donate", "reimburse",
            "settle", "remit", "wire", "swap", "bridge", "stake", "unstake", "mint",
        ],
        effect: Effect::Verb(Financial),
        text: "\"{}\" says the tool moves money",
        example: "refund_payment",
    },
    // ---- nouns that make a change financial ----
    Rule {
        id: "noun.money",
        on: On::Name,
        terms: &[
            "payment", "payments", "charge", "charges", "refund", "refunds", "payout",
            "payouts", "transfer", "transfers", "invoice", "invoices", "subscription",
            "subscriptions", "funds", "money", "balance", "transaction", "transactions",
            "order", "orders", "wallet", "credit", "credits", "billing", "donation",
            "dispute", "disputes", "coin", "crypto", "usdc", "eth", "btc", "fund", "coins",
            "price", "prices", "coupon", "coupons",
        ],
        effect: Effect::MoneyNoun,
        text: "\"{}\" is about money: changing it is financial",
        example: "create_payment_link",
    },
    // ---- description phrases ----
    Rule {
        id: "phrase.irreversible",
        on: On::Description,
        terms: &[
            "cannot be undone", "can not be undone", "irreversible", "irreversibly",
            "permanently delete", "permanently deletes", "permanently remove",
            "permanently removes", "permanent deletion", "deletes all", "delete all",
            "wipe", "wipes",
        ],
        effect: Effect::AtLeast(Destructive),
        text: "the description says \"{}\"",
        example: "Removes the project. This cannot be undone.",
    },
    Rule {
        id: "phrase.moves_money",
        on: On::Description,
        terms: &[
            "send money", "sends money", "transfer funds", "transfers funds", "charge the",
            "charges the", "charge a customer", "issue a refund", "issues a refund",
            "refund a", "refunds a", "make a payment", "makes a payment",
            "process a payment", "processes a payment", "initiate a payment",
            "initiates a payment", "move money", "moves money", "pay out", "pays out",
            "payout to",
        ],
        effect: Effect::AtLeast(Financial),
        text: "the description says \"{}\"",
        example: "Charges the customer's card for the given amount.",
    },
    Rule {
        id: "phrase.executes_code",
        on: On::Description,
        terms: &[
            "arbitrary code", "execute code", "executes code", "run code", "runs code",
            "shell command", "shell commands", "terminal command", "execute javascript",
            "executes javascript", "execute a command", "executes a command",
            "run a command", "runs a command", "execute sql", "executes sql", "sql query",
            "sql queries", "sql statement", "arbitrary sql", "execute python", "run python",
            "javascript in the browser", "in the browser console",
        ],
        effect: Effect::Flag(Flag::ExecutesCode),
        text: "the description says \"{}\"",
        example: "Executes a shell command on the host.",
    },
    Rule {
        id: "phrase.credentials",
        on: On::Description,
        terms: &[
            "api key", "api keys", "password", "passwords", "access token", "access tokens",
            "secret", "secrets", "credential", "credentials", "private key", "private keys",
            "oauth token", "ssh key", "ssh keys",
            // Where deployments keep their secrets.
            "environment variable", "environment variables", "env vars",
        ],
        effect: Effect::Flag(Flag::Credentials),
        text: "the description mentions \"{}\"",
        example: "Rotates the API key of a project.",
    },
    Rule {
        id: "phrase.open_world",
        on: On::Description,
        terms: &[
            "any url", "a url", "the url", "web search", "search the web", "the internet",
            "from the web", "http request", "https request", "web page", "webpage",
            "website", "websites", "fetches a url", "fetch a url", "browser",
        ],
        effect: Effect::Flag(Flag::OpenWorld),
        text: "the description says \"{}\"",
        example: "Fetches a URL from the internet.",
    },
    // ---- input schema ----
    Rule {
        id: "schema.credentials",
        on: On::Property,
        terms: &[
            "password", "passwd", "passphrase", "token", "accesstoken", "apitoken",
            "authtoken", "bearertoken", "apikey", "secret", "clientsecret", "secretkey",
            "privatekey", "credential", "credentials", "sshkey", "otp", "mfacode",
        ],
        effect: Effect::Flag(Flag::Credentials),
        text: "the argument \"{}\" carries a credential",
        example: "api_key",
    },
    Rule {
        id: "schema.url",
        on: On::Property,
        terms: &["url", "uri", "urls", "endpoint", "href", "webhookurl", "callbackurl", "link"],
        effect: Effect::Flag(Flag::OpenWorld),
        text: "the argument \"{}\" lets the caller choose where the tool connects",
        example: "url",
    },
    Rule {
        id: "schema.code",
        on: On::Property,
        terms: &[
            "command", "cmd", "script", "code", "sql", "javascript", "js", "python",
            "shell", "expression", "statement", "commandline", "sourcecode",
        ],
        effect: Effect::Executes,
        text: "the argument \"{}\" is code or a command the tool runs",
        example: "command",
    },
    Rule {
        id: "schema.amount",
        on: On::Property,
        terms: &[
            "amount", "amountcents", "amountinminorunits", "unitamount", "totalamount",
            "amountmoney", "price", "valuecents",
        ],
        effect: Effect::AmountArgument,
        text: "the argument \"{}\" is an amount of money",
        example: "amount",
    },
    Rule {
        id: "schema.many_parameters",
        on: On::PropertyCount,
        terms: &[],
        effect: Effect::Flag(Flag::ManyParameters),
        text: "{} top-level parameters: an unusually large surface to check",
        example: "16",
    },
    // ---- annotations (hints from the server being policed) ----
    Rule {
        id: "annotation.read_only",
        on: On::Annotation,
        terms: &["readOnlyHint"],
        effect: Effect::ReadOnlyHint,
        text: "the server's annotation {}",
        example: "readOnlyHint",
    },
    Rule {
        id: "annotation.destructive",
        on: On::Annotation,
        terms: &["destructiveHint"],
        effect: Effect::DestructiveHint,
        text: "the server's annotation {}",
        example: "destructiveHint",
    },
    Rule {
        id: "annotation.open_world",
        on: On::Annotation,
        terms: &["openWorldHint"],
        effect: Effect::OpenWorldHint,
        text: "the server's annotation {}",
        example: "openWorldHint",
    },
    // ---- default ----
    Rule {
        id: "fallback.unrecognised",
        on: On::Fallback,
        terms: &[],
        effect: Effect::Unrecognised,
        text: "no rule recognises {}: treated as a write until reviewed",
        example: "frobnicate",
    },
];

/// What the classifier made of a server's annotation, appended to the
/// annotation row's reason (`the server's annotation readOnlyHint: true` +
/// `; ignored: …`).
#[derive(Debug, Clone, Copy)]
pub struct HintOutcome {
    pub id: &'static str,
    /// When it applies, for the docs.
    pub when: &'static str,
    pub text: &'static str,
}

pub const HINT_OUTCOMES: &[HintOutcome] = &[
    HintOutcome {
        id: "agrees",
        when: "the hint agrees with the name or description",
        text: ", as the name or description says",
    },
    HintOutcome {
        id: "contradicts",
        when: "readOnlyHint: true on a tool that writes, readOnlyHint: false on one that reads, \
               destructiveHint: false on one that deletes",
        text: "; the name or description says otherwise: flagged, risk raised one level",
    },
    HintOutcome {
        id: "contradicts_read",
        when: "destructiveHint: true on a tool whose name or description reads",
        text: "; the name or description reads: flagged, risk at least high",
    },
    HintOutcome {
        id: "raises",
        when: "destructiveHint: true on a tool that does not only read",
        text: "; risk at least high",
    },
    HintOutcome {
        id: "trusted_read",
        when: "readOnlyHint: true on a tool no rule recognises, from a trusted server",
        text: "; the server is trusted, so the tool is taken as a read",
    },
    HintOutcome {
        id: "ignored",
        when: "readOnlyHint: true on a tool no rule recognises, from an untrusted server",
        text: "; ignored: only a trusted server's hint can lower risk",
    },
    HintOutcome {
        id: "open_world",
        when: "openWorldHint: true",
        text: "; flagged as reaching beyond the server",
    },
];

/// The outcome with this id (ids are unique, tested).
pub fn hint_outcome(id: &str) -> &'static str {
    HINT_OUTCOMES
        .iter()
        .find(|o| o.id == id)
        .map_or("", |o| o.text)
}

/// The row with this id; ids are unique (tested).
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

"""Ground-truth explanations (paper §3.4, App. A.2): per-category explicit/intent queries from an
LLM (Claude or an offline stand-in), durably cached, then assembled per sample."""

"""The LLM backbone and what SEG, XRec and PEPLER share around it: loading, injection, prompts, generation."""

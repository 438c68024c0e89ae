"""Internal storage names shared by the passes (the emitter sanitises them)."""


def storage_name(func, index: int) -> str:
    return f"{func.name}#{func.uid}.{index}"

//! KCM opcodes (Heimdal's numbering, which MIT keeps, plus MIT's two
//! extensions at 13001).

/// An operation a client may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Noop,
    GenNew,
    Initialize,
    Destroy,
    Store,
    Retrieve,
    GetPrincipal,
    GetCredUuidList,
    GetCredByUuid,
    RemoveCred,
    GetCacheUuidList,
    GetCacheByUuid,
    GetDefaultCache,
    SetDefaultCache,
    GetKdcOffset,
    SetKdcOffset,
    GetCredList,
    Replace,
    /// Any other number (Heimdal's NTLM and flag operations, or garbage).
    Other(u16),
}

impl Op {
    pub fn from_code(code: u16) -> Op {
        match code {
            0 => Op::Noop,
            3 => Op::GenNew,
            4 => Op::Initialize,
            5 => Op::Destroy,
            6 => Op::Store,
            7 => Op::Retrieve,
            8 => Op::GetPrincipal,
            9 => Op::GetCredUuidList,
            10 => Op::GetCredByUuid,
            11 => Op::RemoveCred,
            18 => Op::GetCacheUuidList,
            19 => Op::GetCacheByUuid,
            20 => Op::GetDefaultCache,
            21 => Op::SetDefaultCache,
            22 => Op::GetKdcOffset,
            23 => Op::SetKdcOffset,
            13001 => Op::GetCredList,
            13002 => Op::Replace,
            other => Op::Other(other),
        }
    }

    /// The name `--trace` prints.
    pub fn name(self) -> String {
        match self {
            Op::Other(code) => format!("op{code}"),
            known => format!("{known:?}"),
        }
    }

    /// Whether the operation changes the store (and so its saved state).
    pub fn mutates(self) -> bool {
        matches!(
            self,
            Op::Initialize
                | Op::Destroy
                | Op::Store
                | Op::RemoveCred
                | Op::SetDefaultCache
                | Op::SetKdcOffset
                | Op::Replace
        )
    }
}

//! How a masked record is shown to the model: the chat its template renders, the same
//! for training (train's collation) and for scoring (eval's language-model metrics).

use sealtune_data::record::{Record, Role as DataRole};
use sealtune_model::tokenizer::{Message, Role};

/// A record role as the chat template's role.
pub fn role(r: DataRole) -> Role {
    match r {
        DataRole::System => Role::System,
        DataRole::User => Role::User,
        DataRole::Assistant => Role::Assistant,
    }
}

/// The chat a record is rendered as: chat as is, instruction as a user turn
/// (instruction, then the input after a blank line) and an assistant turn, text as one
/// assistant turn.
pub fn record_messages(rec: &Record) -> Vec<Message> {
    match rec {
        Record::Chat { messages } => messages
            .iter()
            .map(|m| Message {
                role: role(m.role),
                content: m.content.clone(),
            })
            .collect(),
        Record::Instruction {
            instruction,
            input,
            output,
        } => {
            let user = match input {
                Some(i) if !i.is_empty() => format!("{instruction}\n\n{i}"),
                _ => instruction.clone(),
            };
            vec![
                Message {
                    role: Role::User,
                    content: user,
                },
                Message {
                    role: Role::Assistant,
                    content: output.clone(),
                },
            ]
        }
        Record::Text { text } => vec![Message {
            role: Role::Assistant,
            content: text.clone(),
        }],
    }
}

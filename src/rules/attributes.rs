//! The attributes sent to the target: each `[attributes]` expression (or its default) evaluated
//! over the user's Entra properties.
//!
//! Part of `rules/` (pure). The property names are Graph's (`userPrincipalName`, `department`,
//! ...), plus `objectId` as Entra's own expressions call the id; a boolean reads as
//! `"true"`/`"false"`. An expression that gives null, or an empty string, sends nothing.

use std::collections::BTreeMap;

use crate::config::AttributeMapping;
use crate::source::User;

/// The value of one Entra property of `user`, by the name an expression uses.
pub fn property(user: &User, name: &str) -> Option<String> {
    let text = |v: &Option<String>| v.clone();
    match name {
        "objectId" | "id" => Some(user.id.clone()),
        "userPrincipalName" => text(&user.user_principal_name),
        "mail" => text(&user.mail),
        "givenName" => text(&user.given_name),
        "surname" => text(&user.surname),
        "displayName" => text(&user.display_name),
        "department" => text(&user.department),
        "officeLocation" => text(&user.office_location),
        "userType" => text(&user.user_type),
        "accountEnabled" => user.account_enabled.map(|b| b.to_string()),
        "companyName" => text(&user.company_name),
        "jobTitle" => text(&user.job_title),
        "employeeId" => text(&user.employee_id),
        "mobilePhone" => text(&user.mobile_phone),
        _ => None,
    }
}

/// Every mapped attribute that has a value, by target path.
pub fn evaluate(user: &User, mappings: &[AttributeMapping]) -> BTreeMap<String, String> {
    let get = |name: &str| property(user, name);
    mappings
        .iter()
        .filter_map(|m| {
            let value = m.expr.eval(&get)?;
            (!value.is_empty()).then(|| (m.target.clone(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EXPRESSION_PROPERTIES;

    #[test]
    fn every_expression_property_reads_a_field() {
        let user = User {
            id: "i".into(),
            user_principal_name: Some("u".into()),
            mail: Some("m".into()),
            given_name: Some("g".into()),
            surname: Some("s".into()),
            display_name: Some("d".into()),
            department: Some("dep".into()),
            office_location: Some("o".into()),
            user_type: Some("Member".into()),
            account_enabled: Some(true),
            company_name: Some("c".into()),
            job_title: Some("j".into()),
            employee_id: Some("e".into()),
            mobile_phone: Some("p".into()),
        };
        for name in EXPRESSION_PROPERTIES {
            assert!(property(&user, name).is_some(), "{name} reads nothing");
        }
    }
}

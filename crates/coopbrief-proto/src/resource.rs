//! The wire side of each resource's description: its message, its five standard requests and
//! the fields an update may set, one row per resource in the table at the bottom. The data
//! service's handlers, the CLI's verbs and the access rules are generic over [`WireResource`].

use coopbrief_domain::Result;
use coopbrief_domain::dataset as d;
use coopbrief_domain::resource::Resource;
use prost_types::FieldMask;
use tonic::codegen::http::uri::PathAndQuery;

use crate::{convert, v1};

/// What a List request asks for, whatever the resource; filters it lacks stay empty.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListQuery {
    pub programme: String,
    pub sector: String,
    pub period: String,
    pub status: String,
    pub kind: String,
    pub partner: String,
    pub page_size: i32,
    pub page_token: String,
}

/// The resource a Get or Delete names (and the etag a Delete must match); for a record, its
/// programme too.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Key {
    pub programme: String,
    pub code: String,
    pub etag: String,
}

/// A standard method of the cooperation service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    List,
    Get,
    Create,
    Update,
    Delete,
}

impl Method {
    pub const ALL: [Method; 5] = [Method::List, Method::Get, Method::Create, Method::Update, Method::Delete];

    /// Whether it only reads.
    pub fn reads(self) -> bool {
        matches!(self, Method::List | Method::Get)
    }
}

/// The service every resource's methods belong to.
pub const SERVICE: &str = "CooperationService";

/// A resource as it travels: conversions both ways and its requests taken apart and built.
pub trait WireResource: Resource {
    type Wire: prost::Message + std::fmt::Debug + Default + Clone + Send + Sync + 'static;
    type List: prost::Message + Default + Send + 'static;
    type Page: prost::Message + Default + Send + 'static;
    type Get: prost::Message + Default + Send + 'static;
    type Create: prost::Message + Default + Send + 'static;
    type Update: prost::Message + Default + Send + 'static;
    type Delete: prost::Message + Default + Send + 'static;
    /// The fields an update mask may name (the others identify it or are computed).
    const FIELDS: &'static [&'static str];

    fn to_wire(value: &Self, key: &Key) -> Self::Wire;
    /// Sets the ids of a wire value (programme, code, etag) from `key`.
    fn set_key(w: &mut Self::Wire, key: &Key);
    /// Parses a wire value into its types (codes, periods, enums …); errors name fields under
    /// the resource's name. A client reading what the service sends uses this alone.
    fn parse(w: Self::Wire) -> Result<Self>;
    /// Parses and checks a wire value as a request must be: the value's own checks, its sizes
    /// and its text (see [`coopbrief_domain::limits::check_value`]).
    fn from_wire(w: Self::Wire) -> Result<Self> {
        let v = Self::parse(w)?;
        Resource::check(&v, Self::NAME)?;
        coopbrief_domain::limits::check_value(&*v.header(), Self::NAME)?;
        Ok(v)
    }
    /// The ids a wire value carries (programme, code, etag).
    fn key(w: &Self::Wire) -> Key;
    /// Moves field `path` of `from` into `into`; false for a path that is not in [`Self::FIELDS`].
    fn merge(into: &mut Self::Wire, from: &mut Self::Wire, path: &str) -> bool;

    fn list_query(r: Self::List) -> ListQuery;
    fn list_request(q: ListQuery) -> Self::List;
    fn page(items: Vec<Self::Wire>, next_page_token: String) -> Self::Page;
    fn page_parts(p: Self::Page) -> (Vec<Self::Wire>, String);
    fn get_key(r: Self::Get) -> Key;
    fn get_request(k: Key) -> Self::Get;
    fn create_parts(r: Self::Create) -> (Option<Self::Wire>, String);
    fn create_request(w: Self::Wire, request_id: String) -> Self::Create;
    fn update_parts(r: Self::Update) -> (Option<Self::Wire>, Option<FieldMask>);
    fn update_request(w: Self::Wire, mask: FieldMask) -> Self::Update;
    fn delete_key(r: Self::Delete) -> Key;
    fn delete_request(k: Key) -> Self::Delete;
}

/// The RPC's name: `ListActivities`, `GetActivity` ….
pub fn rpc<R: Resource>(method: Method) -> String {
    rpc_name(method, R::NAME, R::PLURAL)
}

fn rpc_name(method: Method, name: &str, plural: &str) -> String {
    let noun = if method == Method::List { plural } else { name };
    let mut chars = noun.chars();
    let first = chars.next().map(|c| c.to_ascii_uppercase()).into_iter();
    format!("{method:?}{}", first.chain(chars).collect::<String>())
}

/// The RPC's path as a client calls it: `/coopbrief.v1.CooperationService/ListActivities`.
pub fn path<R: Resource>(method: Method) -> PathAndQuery {
    let path = format!("/coopbrief.v1.{SERVICE}/{}", rpc::<R>(method));
    // Built from names that are ASCII identifiers: always a valid path.
    PathAndQuery::try_from(path).unwrap_or_else(|_| PathAndQuery::from_static("/"))
}

/// Names of every resource's standard RPCs, for tables that cover every method (access rules).
pub fn rpcs() -> Vec<(String, Method)> {
    let mut all = Vec::new();
    for (name, plural) in NAMES {
        for m in Method::ALL {
            all.push((rpc_name(m, name, plural), m));
        }
    }
    all
}

macro_rules! resources {
    ($(
        $dom:ty => $wire:ty as $one:ident, $many:ident [$($field:ident),* $(,)?]
            ids { $($id:ident),* }
            list $List:path { $($filter:ident),* } => $Page:path,
            get $Get:path { $($get:ident),* }, create $Create:path, update $Update:path,
            delete $Delete:path { $($del:ident),* },
            convert $to:expr, $from:path;
    )*) => {
        /// Every resource's (name, plural), in the order of the service.
        const NAMES: &[(&str, &str)] = &[$((<$dom as Resource>::NAME, <$dom as Resource>::PLURAL)),*];

        $(impl WireResource for $dom {
            type Wire = $wire;
            type List = $List;
            type Page = $Page;
            type Get = $Get;
            type Create = $Create;
            type Update = $Update;
            type Delete = $Delete;
            const FIELDS: &'static [&'static str] = &[$(stringify!($field)),*];

            fn to_wire(value: &Self, key: &Key) -> $wire {
                #[allow(clippy::redundant_closure_call, reason = "a table cell is a function or a closure")]
                let mut w: $wire = ($to)(value);
                Self::set_key(&mut w, key);
                w
            }
            fn set_key(w: &mut $wire, key: &Key) {
                $(w.$id = key.$id.clone();)*
            }
            fn parse(w: $wire) -> Result<Self> {
                $from(w, <$dom as Resource>::NAME)
            }
            fn key(w: &$wire) -> Key {
                let mut k = Key::default();
                $(k.$id = w.$id.clone();)*
                k
            }
            fn merge(into: &mut $wire, from: &mut $wire, path: &str) -> bool {
                match path {
                    $(stringify!($field) => into.$field = std::mem::take(&mut from.$field),)*
                    _ => return false,
                }
                true
            }
            fn list_query(r: $List) -> ListQuery {
                ListQuery { $($filter: r.$filter,)* page_size: r.page_size, page_token: r.page_token, ..ListQuery::default() }
            }
            fn list_request(q: ListQuery) -> $List {
                $List { $($filter: q.$filter,)* page_size: q.page_size, page_token: q.page_token }
            }
            fn page($many: Vec<$wire>, next_page_token: String) -> $Page {
                $Page { $many, next_page_token }
            }
            fn page_parts(p: $Page) -> (Vec<$wire>, String) {
                (p.$many, p.next_page_token)
            }
            fn get_key(r: $Get) -> Key {
                let mut k = Key::default();
                $(k.$get = r.$get;)*
                k
            }
            fn get_request(k: Key) -> $Get {
                $Get { $($get: k.$get),* }
            }
            fn create_parts(r: $Create) -> (Option<$wire>, String) {
                (r.$one, r.request_id)
            }
            fn create_request(w: $wire, request_id: String) -> $Create {
                $Create { $one: Some(w), request_id }
            }
            fn update_parts(r: $Update) -> (Option<$wire>, Option<FieldMask>) {
                (r.$one, r.update_mask)
            }
            fn update_request(w: $wire, mask: FieldMask) -> $Update {
                $Update { $one: Some(w), update_mask: Some(mask) }
            }
            fn delete_key(r: $Delete) -> Key {
                let mut k = Key::default();
                $(k.$del = r.$del;)*
                k
            }
            fn delete_request(k: Key) -> $Delete {
                $Delete { $($del: k.$del),* }
            }
        })*
    };
}

resources! {
    d::Partner => v1::Partner as partner, partners [name, kind]
        ids { code, etag }
        list v1::ListPartnersRequest { programme, kind } => v1::ListPartnersResponse,
        get v1::GetPartnerRequest { code }, create v1::CreatePartnerRequest, update v1::UpdatePartnerRequest,
        delete v1::DeletePartnerRequest { code, etag },
        convert convert::partner, convert::to_partner;
    d::Sector => v1::Sector as sector, sectors [name]
        ids { code, etag }
        list v1::ListSectorsRequest { programme } => v1::ListSectorsResponse,
        get v1::GetSectorRequest { code }, create v1::CreateSectorRequest, update v1::UpdateSectorRequest,
        delete v1::DeleteSectorRequest { code, etag },
        convert convert::sector, convert::to_sector;
    d::Programme => v1::Programme as programme, programmes [
        title, short_name, status, partners, phases, letterhead, notes, source, agreed_on, signatories, valid,
    ]
        ids { code, etag }
        list v1::ListProgrammesRequest { partner, status } => v1::ListProgrammesResponse,
        get v1::GetProgrammeRequest { code }, create v1::CreateProgrammeRequest, update v1::UpdateProgrammeRequest,
        delete v1::DeleteProgrammeRequest { code, etag },
        convert convert::programme, convert::to_programme;
    d::Indicator => v1::Indicator as indicator, indicators [
        name, unit, sector, aggregation, base_date, higher_is_better, headline, baseline, target, values,
    ]
        ids { programme, code, etag }
        list v1::ListIndicatorsRequest { programme, sector, period, status } => v1::ListIndicatorsResponse,
        get v1::GetIndicatorRequest { programme, code }, create v1::CreateIndicatorRequest,
        update v1::UpdateIndicatorRequest, delete v1::DeleteIndicatorRequest { programme, code, etag },
        convert convert::indicator, convert::to_indicator;
    d::Activity => v1::Activity as activity, activities [
        sector, period, kind, title, description, location, organiser, occurrences, participants, enterprises,
        products,
    ]
        ids { programme, code, etag }
        list v1::ListActivitiesRequest { programme, sector, period, status } => v1::ListActivitiesResponse,
        get v1::GetActivityRequest { programme, code }, create v1::CreateActivityRequest,
        update v1::UpdateActivityRequest, delete v1::DeleteActivityRequest { programme, code, etag },
        convert convert::activity, convert::to_activity;
    d::Project => v1::Project as project, projects [
        sector, name, partners, location, status, progress, budget_vnd, period, description, milestones,
    ]
        ids { programme, code, etag }
        list v1::ListProjectsRequest { programme, sector, period, status } => v1::ListProjectsResponse,
        get v1::GetProjectRequest { programme, code }, create v1::CreateProjectRequest,
        update v1::UpdateProjectRequest, delete v1::DeleteProjectRequest { programme, code, etag },
        convert convert::project, convert::to_project;
    d::Contribution => v1::Contribution as contribution, contributions [
        from, to, amount_vnd, sector, purpose, period, date, currency, amount,
    ]
        ids { programme, code, etag }
        list v1::ListContributionsRequest { programme, sector, period, status } => v1::ListContributionsResponse,
        get v1::GetContributionRequest { programme, code }, create v1::CreateContributionRequest,
        update v1::UpdateContributionRequest, delete v1::DeleteContributionRequest { programme, code, etag },
        convert convert::contribution, convert::to_contribution;
    d::Assessment => v1::Assessment as assessment, assessments [period, kind, sector, text]
        ids { programme, code, etag }
        list v1::ListAssessmentsRequest { programme, sector, period, status } => v1::ListAssessmentsResponse,
        get v1::GetAssessmentRequest { programme, code }, create v1::CreateAssessmentRequest,
        update v1::UpdateAssessmentRequest, delete v1::DeleteAssessmentRequest { programme, code, etag },
        convert |x| convert::assessment(x, ""), convert::to_assessment;
    d::Direction => v1::Direction as direction, directions [period, sector, text]
        ids { programme, code, etag }
        list v1::ListDirectionsRequest { programme, sector, period, status } => v1::ListDirectionsResponse,
        get v1::GetDirectionRequest { programme, code }, create v1::CreateDirectionRequest,
        update v1::UpdateDirectionRequest, delete v1::DeleteDirectionRequest { programme, code, etag },
        convert |x| convert::direction(x, ""), convert::to_direction;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_names_follow_the_resource_names() {
        assert_eq!(rpc::<d::Activity>(Method::List), "ListActivities");
        assert_eq!(rpc::<d::Activity>(Method::Get), "GetActivity");
        assert_eq!(path::<d::Partner>(Method::Delete).as_str(), "/coopbrief.v1.CooperationService/DeletePartner");
        let every = crate::method_paths().unwrap();
        for (name, _) in rpcs() {
            assert!(every.contains(&format!("/coopbrief.v1.{SERVICE}/{name}")), "{name} is not an RPC");
        }
        assert_eq!(rpcs().len(), 45);
    }
}

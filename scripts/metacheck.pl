#!/usr/bin/perl
# scripts/metacheck.pl [META.json]: what `make metacheck` runs.
#
# Checks META.json against the PGXN Meta Spec 1.0.0 (https://pgxn.org/spec/)
# without the network: valid JSON, every required key present with the
# right form (name, version as semantic versions, license from the spec's
# list, maintainer, abstract, provides with file and version, meta-spec),
# the optional keys that are present well-formed (prereqs phases and
# relations, tags, release_status, resources), no unknown top-level key
# except x_/X_ ones, and then that it agrees with this tree: the version is
# the control file's default_version, and every file it names exists.
# Prints "META.json ok (VERSION)" or every problem found, and exits non-zero
# on any.
use strict;
use warnings;
use JSON::PP;

my $path = shift // 'META.json';
my @problems;
sub problem { push @problems, join('', @_) }

open my $fh, '<', $path or die "cannot open $path: $!\n";
my $text = do { local $/; <$fh> };
close $fh;
my $meta = eval { JSON::PP->new->decode($text) };
if (!defined $meta) {
	print "$path is not valid JSON: $@";
	exit 1;
}
if (ref $meta ne 'HASH') {
	print "$path: the top level must be an object\n";
	exit 1;
}

# Semantic version as the spec has it: MAJOR.MINOR.PATCH, optional
# pre-release suffix.
my $semver = qr/^(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)(?:-?[0-9A-Za-z][0-9A-Za-z-]*)?$/;
my $range_part = qr/^(?:(?:[<>]=?|==|!=)\s*)?(?:0|[0-9]+\.[0-9]+\.[0-9]+(?:-?[0-9A-Za-z][0-9A-Za-z-]*)?)$/;
my %licenses = map { $_ => 1 } qw(agpl_3 apache_1_1 apache_2_0 artistic_1
	artistic_2 bsd freebsd gfdl_1_2 gfdl_1_3 gpl_1 gpl_2 gpl_3 lgpl_2_1
	lgpl_3_0 mit mozilla_1_0 mozilla_1_1 openssl perl_5 postgresql qpl_1_0
	ssleay sun zlib open_source restricted unrestricted unknown);
my %known = map { $_ => 1 } qw(name abstract description version maintainer
	license prereqs provides tags resources generated_by no_index
	release_status meta-spec);

sub is_string { my $v = shift; defined $v && !ref $v && length $v }

sub check_name {
	my ($what, $v) = @_;
	problem("$what must be a string of at least two characters without /, \\, whitespace or control characters")
		unless is_string($v) && length $v >= 2 && $v !~ m{[/\\\s[:cntrl:]]};
}

for my $key (qw(name abstract maintainer license provides version meta-spec)) {
	problem("required key \"$key\" is missing") unless exists $meta->{$key};
}
for my $key (sort keys %$meta) {
	problem("unknown top-level key \"$key\" (custom keys start with x_ or X_)")
		unless $known{$key} || $key =~ /^[xX]_/;
}

check_name('name', $meta->{name}) if exists $meta->{name};
problem('abstract must be a non-empty string') if exists $meta->{abstract} && !is_string($meta->{abstract});
problem('description must be a non-empty string') if exists $meta->{description} && !is_string($meta->{description});
problem("version \"", $meta->{version} // '', "\" is not a semantic version")
	if exists $meta->{version} && !(is_string($meta->{version}) && $meta->{version} =~ $semver);

if (exists $meta->{maintainer}) {
	my $m = $meta->{maintainer};
	my @m = ref $m eq 'ARRAY' ? @$m : ($m);
	problem('maintainer must be a string or a non-empty array of strings')
		if !@m || grep { !is_string($_) } @m;
}

if (exists $meta->{license}) {
	my $l = $meta->{license};
	if (ref $l eq 'HASH') {
		problem('license as an object must map names to URLs')
			if !%$l || grep { !is_string($l->{$_}) || $l->{$_} !~ m{^https?://} } keys %$l;
	} else {
		my @l = ref $l eq 'ARRAY' ? @$l : ($l);
		problem('license must be one of the spec\'s license strings, an array of them, or an object')
			if !@l || grep { !is_string($_) || !$licenses{$_} } @l;
	}
}

if (exists $meta->{'meta-spec'}) {
	my $ms = $meta->{'meta-spec'};
	if (ref $ms ne 'HASH') {
		problem('meta-spec must be an object');
	} else {
		problem("meta-spec version must be \"1.0.0\" (the PGXN Meta Spec), not \"", $ms->{version} // '', "\"")
			unless ($ms->{version} // '') eq '1.0.0';
		problem('meta-spec url must be a URL')
			if exists $ms->{url} && !(is_string($ms->{url}) && $ms->{url} =~ m{^https?://});
	}
}

my %provides;
if (exists $meta->{provides}) {
	my $p = $meta->{provides};
	if (ref $p ne 'HASH' || !%$p) {
		problem('provides must be an object naming at least one extension');
	} else {
		%provides = %$p;
		for my $ext (sort keys %provides) {
			my $e = $provides{$ext};
			check_name("provides key \"$ext\"", $ext);
			if (ref $e ne 'HASH') {
				problem("provides.$ext must be an object");
				next;
			}
			problem("provides.$ext.file is required") unless is_string($e->{file});
			problem("provides.$ext.version must be a semantic version")
				unless is_string($e->{version}) && $e->{version} =~ $semver;
			for my $k (sort keys %$e) {
				problem("provides.$ext has unknown key \"$k\"")
					unless $k =~ /^(?:file|version|abstract|docfile|[xX]_.*)$/;
			}
		}
	}
}

if (exists $meta->{prereqs}) {
	my $pr = $meta->{prereqs};
	if (ref $pr ne 'HASH') {
		problem('prereqs must be an object');
	} else {
		for my $phase (sort keys %$pr) {
			problem("prereqs phase \"$phase\" is not configure, build, test, runtime or develop")
				unless $phase =~ /^(?:configure|build|test|runtime|develop|[xX]_.*)$/;
			my $rels = $pr->{$phase};
			if (ref $rels ne 'HASH') {
				problem("prereqs.$phase must be an object");
				next;
			}
			for my $rel (sort keys %$rels) {
				problem("prereqs.$phase relation \"$rel\" is not requires, recommends, suggests or conflicts")
					unless $rel =~ /^(?:requires|recommends|suggests|conflicts|[xX]_.*)$/;
				my $deps = $rels->{$rel};
				if (ref $deps ne 'HASH') {
					problem("prereqs.$phase.$rel must be an object");
					next;
				}
				for my $dep (sort keys %$deps) {
					my $range = $deps->{$dep};
					problem("prereqs.$phase.$rel.$dep: \"", $range // '', "\" is not a version range")
						if !is_string($range) || grep { $_ !~ $range_part } split /\s*,\s*/, $range;
				}
			}
		}
	}
}

if (exists $meta->{tags}) {
	my $t = $meta->{tags};
	problem('tags must be an array of strings of at most 255 characters without /, \\ or control characters')
		if ref $t ne 'ARRAY' || grep { !is_string($_) || length $_ > 255 || m{[/\\[:cntrl:]]} } @$t;
}
problem('release_status must be stable, testing or unstable')
	if exists $meta->{release_status} && ($meta->{release_status} // '') !~ /^(?:stable|testing|unstable)$/;
if (exists $meta->{resources}) {
	my $r = $meta->{resources};
	if (ref $r ne 'HASH') {
		problem('resources must be an object');
	} else {
		for my $k (sort keys %$r) {
			problem("resources has unknown key \"$k\"")
				unless $k =~ /^(?:homepage|bugtracker|repository|[xX]_.*)$/;
		}
	}
}

# Agreement with this tree.
my $control = 'audit_guard.control';
if (open my $cf, '<', $control) {
	my ($default) = map { /^default_version\s*=\s*'([^']*)'/ ? $1 : () } <$cf>;
	close $cf;
	my $want = defined $default ? "$default.0" : '';
	problem("version \"", $meta->{version} // '', "\" is not the control file's default_version ($want)")
		unless ($meta->{version} // '') eq $want;
	for my $ext (sort keys %provides) {
		next unless ref $provides{$ext} eq 'HASH';
		problem("provides.$ext.version is not $want")
			unless ($provides{$ext}{version} // '') eq $want;
	}
} else {
	problem("cannot read $control");
}
for my $ext (sort keys %provides) {
	next unless ref $provides{$ext} eq 'HASH';
	for my $k (qw(file docfile)) {
		my $f = $provides{$ext}{$k};
		problem("provides.$ext.$k names \"$f\", which is not in the tree")
			if is_string($f) && !-f $f;
	}
}

if (@problems) {
	print "$path does not follow the PGXN Meta Spec 1.0.0:\n";
	print "  $_\n" for @problems;
	exit 1;
}
print "$path ok ($meta->{version}, PGXN Meta Spec 1.0.0)\n";
